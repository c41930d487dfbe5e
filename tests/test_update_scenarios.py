"""The update scenario suite: real templates (copier and cookiecutter), real services, real edits.

Each scenario is a story: template v1.0.0, `svc new`, a local change committed by the team,
template v2.0.0, `svc update`. The scenario states what the user must see; one test runs
every scenario in both formats, and also checks that no line the team wrote is lost.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from update_support import (
    BASE_FILES,
    LOGO,
    TemplateRepo,
    commit_all,
    conflicted,
    dedent,
    edit,
    git,
    new_service,
    released_service,
    repo_state,
    svc,
    template_repo,
    with_changes,
    without_render_trailers,
)

README = str(BASE_FILES["README.md"])
MAIN = str(BASE_FILES["app/main.py"])
REGISTRY = str(BASE_FILES["app/registry.py"])
DOCKERFILE = str(BASE_FILES["Dockerfile"])


@dataclass(frozen=True)
class Scenario:
    """A local change, a template release, and what the update must leave."""

    # Makes the team's change in the service; returns the lines the team wrote.
    local: Callable[[Path], list[str]]
    v2: dict[str, str | bytes]
    exit_code: int
    check: Callable[[Path, str], None]
    executable: tuple[str, ...] = ("scripts/run.sh",)


def _append(rel: str, *lines: str) -> Callable[[Path], list[str]]:
    def change(service: Path) -> list[str]:
        path = service / rel
        path.write_text(path.read_text() + "".join(line + "\n" for line in lines))
        return list(lines)

    return change


def _support_edit(service: Path) -> list[str]:
    edit(
        service / "README.md",
        "Ask the platform team.",
        "Ask the platform team.\nLOCAL: page #oncall.",
    )
    return ["LOCAL: page #oncall."]


def _untouched_lines(service: Path, output: str) -> None:
    readme = (service / "README.md").read_text()
    assert "LOCAL: page #oncall." in readme
    assert "# demo service" in readme  # the template's change on other lines
    assert "3.13-slim" in (service / "Dockerfile").read_text()
    assert "<<<<<<<" not in readme


def _alpine(service: Path) -> list[str]:
    edit(service / "Dockerfile", "FROM python:3.12-slim", "FROM python:3.12-alpine")
    return ["FROM python:3.12-alpine"]


def _same_lines(service: Path, output: str) -> None:
    text = (service / "Dockerfile").read_text()
    assert "<<<<<<< " in text and "=======" in text and ">>>>>>> " in text
    assert "FROM python:3.12-alpine" in text and "FROM python:3.13-slim" in text
    assert conflicted(service) == ["Dockerfile"]
    assert "Dockerfile" in output


def _rename_followed(service: Path, output: str) -> None:
    assert not (service / "app/registry.py").exists()
    moved = (service / "app/service_registry.py").read_text()
    assert "LOCAL-rename: audit()" in moved
    assert "def register" in moved


def _delete_kept(service: Path, output: str) -> None:
    kept = (service / "app/registry.py").read_text()
    assert "LOCAL-delete: audit()" in kept
    assert conflicted(service) == ["app/registry.py"]
    assert "app/registry.py" in output


def _contributing(service: Path) -> list[str]:
    (service / "CONTRIBUTING.md").write_text("LOCAL-contrib: our own rules\n")
    return ["LOCAL-contrib: our own rules"]


def _add_conflict(service: Path, output: str) -> None:
    text = (service / "CONTRIBUTING.md").read_text()
    assert "LOCAL-contrib: our own rules" in text and "Template rules." in text
    assert "<<<<<<< " in text
    assert conflicted(service) == ["CONTRIBUTING.md"]


def _delete_registry(service: Path) -> list[str]:
    (service / "app/registry.py").unlink()
    return []


def _deleted_reported(service: Path, output: str) -> None:
    assert conflicted(service) == ["app/registry.py"]
    assert "app/registry.py" in output
    status = git(service, "status", "--porcelain", "--", "app/registry.py")
    assert status.startswith("UD") or status.startswith("DU"), status


def _new_local_file(service: Path) -> list[str]:
    (service / "app/extra.py").write_text("LOCAL-new: helper = 1\n")
    return ["LOCAL-new: helper = 1"]


def _kept_new_file(service: Path, output: str) -> None:
    assert (service / "app/extra.py").read_text() == "LOCAL-new: helper = 1\n"
    assert "3.13-slim" in (service / "Dockerfile").read_text()


def _binary_taken(service: Path, output: str) -> None:
    assert (service / "assets/logo.png").read_bytes() == LOGO + b"v2"


def _local_logo(service: Path) -> list[str]:
    (service / "assets/logo.png").write_bytes(LOGO + b"local")
    return []


def _binary_conflict(service: Path, output: str) -> None:
    assert (service / "assets/logo.png").read_bytes() == LOGO + b"local"
    assert conflicted(service) == ["assets/logo.png"]
    assert "assets/logo.png (binary: your version kept)" in output


def _script_edit(service: Path) -> list[str]:
    edit(service / "scripts/run.sh", "exec python", "echo LOCAL-script\nexec python")
    return ["echo LOCAL-script"]


def _exec_flipped(service: Path, output: str) -> None:
    script = service / "scripts/run.sh"
    assert "echo LOCAL-script" in script.read_text()
    assert not script.stat().st_mode & 0o111
    assert (service / "app/main.py").stat().st_mode & 0o100
    assert git(service, "ls-files", "-s", "app/main.py").startswith("100755")


V2_README = README.replace("# @service_name@", "# @service_name@ service")
V2_DOCKER = DOCKERFILE.replace("3.12-slim", "3.13-slim")
SCENARIOS: dict[str, Scenario] = {
    "edit on lines the template did not touch": Scenario(
        _support_edit,
        with_changes(BASE_FILES, {"README.md": V2_README, "Dockerfile": V2_DOCKER}),
        0,
        _untouched_lines,
    ),
    "edit on the lines the template changed": Scenario(
        _alpine, with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}), 1, _same_lines
    ),
    "template renames a file the team edited": Scenario(
        _append("app/registry.py", "LOCAL-rename: audit()"),
        with_changes(BASE_FILES, {"app/registry.py": None, "app/service_registry.py": REGISTRY}),
        0,
        _rename_followed,
    ),
    "template deletes a file the team edited": Scenario(
        _append("app/registry.py", "LOCAL-delete: audit()"),
        with_changes(BASE_FILES, {"app/registry.py": None}),
        1,
        _delete_kept,
    ),
    "template adds a file the team already has": Scenario(
        _contributing,
        with_changes(BASE_FILES, {"CONTRIBUTING.md": "Template rules.\n"}),
        1,
        _add_conflict,
    ),
    "team deleted a file the template edits": Scenario(
        _delete_registry,
        with_changes(BASE_FILES, {"app/registry.py": dedent(REGISTRY) + "\n\ndef ping() -> None: ...\n"}),
        1,
        _deleted_reported,
    ),
    "new local file": Scenario(
        _new_local_file, with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}), 0, _kept_new_file
    ),
    "template changes a binary file": Scenario(
        _support_edit, with_changes(BASE_FILES, {"assets/logo.png": LOGO + b"v2"}), 0, _binary_taken
    ),
    "binary file changed on both sides": Scenario(
        _local_logo,
        with_changes(BASE_FILES, {"assets/logo.png": LOGO + b"v2"}),
        1,
        _binary_conflict,
    ),
    "template flips executable bits": Scenario(
        _script_edit, BASE_FILES, 0, _exec_flipped, executable=("app/main.py",)
    ),
}


def _lines_in_tree(service: Path) -> str:
    return "\n".join(
        path.read_text(errors="replace")
        for path in service.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(service).parts
    )


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(tmp_path: Path, fmt: str, name: str) -> None:
    scenario = SCENARIOS[name]
    template, service = released_service(tmp_path, fmt)
    written = scenario.local(service)
    commit_all(service, "local change")
    template.release("v2.0.0", scenario.v2, executable=scenario.executable)

    result = svc("update", service)

    assert result.exit_code == scenario.exit_code, result.output
    scenario.check(service, result.output)
    # Zero data loss: every line the team wrote is still in the tree, clean or in a conflict.
    tree = _lines_in_tree(service)
    for line in written:
        assert line in tree, f"{line!r} was lost"
    assert ".svc.yml" in git(service, "diff", "--cached", "--name-only", "HEAD")
    assert "2.0.0" in (service / ".svc.yml").read_text()


def test_clean_update_finishes_with_git_commit(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    assert svc("update", service).exit_code == 0
    git(service, "commit", "-q", "--no-edit")
    log = git(service, "log", "-1", "--format=%P%n%s")
    assert len(log.splitlines()[0].split()) == 2  # a merge of the template render
    assert "Update template" in log
    assert git(service, "status", "--porcelain") == ""
    again = svc("update", service)
    assert again.exit_code == 0 and "already on" in again.output


def test_commit_flag_commits_a_clean_update(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    result = svc("update", service, "--commit")
    assert result.exit_code == 0, result.output
    assert "Committed" in result.output
    assert git(service, "status", "--porcelain") == ""
    assert git(service, "rev-parse", "svc/template") == git(service, "rev-parse", "HEAD^2")
    assert "3.13-slim" in git(service, "show", "svc/template:Dockerfile")


def test_changed_answer_reaches_every_file(tmp_path: Path, fmt: str) -> None:
    _, service = released_service(tmp_path, fmt)
    _support_edit(service)
    commit_all(service, "local")

    result = svc("update", service, "-d", "port=9000")

    assert result.exit_code == 0, result.output
    assert "port 9000" in (service / "README.md").read_text()
    assert "LOCAL: page #oncall." in (service / "README.md").read_text()
    assert '"9000"' in (service / "app/main.py").read_text()
    assert "EXPOSE 9000" in (service / "Dockerfile").read_text()
    assert "9000" in (service / ".svc.yml").read_text()


def test_new_question_takes_its_default(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.questions["tier"] = "gold"
    template.release("v2.0.0", with_changes(BASE_FILES, {"TIER": "@tier@\n"}))
    result = svc("update", service, "--defaults")
    assert result.exit_code == 0, result.output
    assert (service / "TIER").read_text().strip() == "gold"
    assert "tier: gold" in (service / ".svc.yml").read_text()


def _release_series(template: TemplateRepo) -> None:
    template.release(
        "v2.0.0",
        with_changes(
            BASE_FILES,
            {
                "README.md": V2_README,
                "Dockerfile": V2_DOCKER,
                "app/registry.py": None,
                "app/service_registry.py": REGISTRY,
            },
        ),
    )
    v3_main = MAIN.replace('return "ok"', 'return "healthy"')
    template.release(
        "v3.0.0",
        with_changes(
            BASE_FILES,
            {
                "README.md": V2_README.replace("## Running", "## Running locally"),
                "Dockerfile": V2_DOCKER,
                "app/main.py": v3_main,
                "app/registry.py": None,
                "app/service_registry.py": '"""The registry."""\n\n' + dedent(REGISTRY),
            },
        ),
    )


def test_two_updates_in_a_row_equal_one_jump(tmp_path: Path, fmt: str) -> None:
    template = template_repo(tmp_path / "template", fmt)
    template.release("v1.0.0", BASE_FILES)
    services = [new_service(template, tmp_path / f"out{i}") for i in (1, 2)]
    for service in services:
        _support_edit(service)
        _append("app/registry.py", "LOCAL-both: audit()")(service)
        commit_all(service, "local")
    _release_series(template)

    stepwise, jump = services
    for ref in ("v2.0.0", "v3.0.0"):
        assert svc("update", stepwise, "--ref", ref, "--commit").exit_code == 0
    assert svc("update", jump, "--commit").exit_code == 0

    assert git(stepwise, "rev-parse", "HEAD^{tree}") == git(jump, "rev-parse", "HEAD^{tree}")
    assert "LOCAL-both" in (jump / "app/service_registry.py").read_text()


def test_same_version_changes_nothing(tmp_path: Path, fmt: str) -> None:
    _, service = released_service(tmp_path, fmt)
    head = git(service, "rev-parse", "HEAD")
    result = svc("update", service)
    assert result.exit_code == 0, result.output
    assert "already on" in result.output
    assert git(service, "rev-parse", "HEAD") == head
    assert git(service, "status", "--porcelain") == ""
    assert not (service / ".git/MERGE_HEAD").exists()


def test_same_version_with_an_answer_applies_it(tmp_path: Path, fmt: str) -> None:
    _, service = released_service(tmp_path, fmt)
    result = svc("update", service, "--ref", "v1.0.0", "-d", "owner=payments")
    assert result.exit_code == 0, result.output
    assert "owned by payments" in (service / "README.md").read_text()


def test_same_answer_as_recorded_is_no_change(tmp_path: Path, fmt: str) -> None:
    _, service = released_service(tmp_path, fmt)
    result = svc("update", service, "-d", "port=8000")
    assert result.exit_code == 0, result.output
    assert "already on" in result.output
    assert git(service, "status", "--porcelain") == ""


def test_missing_template_branch_rebuilds_the_base(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    _alpine(service)
    commit_all(service, "local")
    clone = tmp_path / "clone" / "demo"
    git(tmp_path, "clone", "-q", "--single-branch", str(service), str(clone))
    assert git(clone, "branch", "--list", "svc/template") == ""
    template.release("v2.0.0", with_changes(BASE_FILES, {"README.md": V2_README}))

    result = svc("update", clone)

    assert result.exit_code == 0, result.output
    assert "FROM python:3.12-alpine" in (clone / "Dockerfile").read_text()
    assert "# demo service" in (clone / "README.md").read_text()
    staged = set(git(clone, "diff", "--cached", "--name-only").split())
    owned = {".copier-answers.yml"} if fmt == "copier" else set()
    assert staged == {".svc.yml", "README.md"} | owned


def test_unrenderable_base_without_branch_is_refused(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    without_render_trailers(service)
    git(service, "branch", "-D", "svc/template")
    # The template's history is rewritten: the recorded commit no longer exists anywhere.
    shutil.rmtree(template.path)
    template = template_repo(template.path, fmt)
    template.release("v2.0.0", with_changes(BASE_FILES, {"README.md": V2_README}))
    before = repo_state(service)

    result = svc("update", service)

    assert result.exit_code == 2
    assert "base of the update cannot be found" in result.output
    assert "git fetch origin svc/template:svc/template" in result.output
    assert repo_state(service) == before


def test_edit_inside_a_conflict_is_findable(tmp_path: Path) -> None:
    """Both sides of a conflict appear with their labels, as git shows them."""
    template, service = released_service(tmp_path, "copier")
    _alpine(service)
    commit_all(service, "local")
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    assert svc("update", service).exit_code == 1
    text = (service / "Dockerfile").read_text()
    assert (
        dedent("""
        <<<<<<< HEAD
        FROM python:3.12-alpine
        =======
        FROM python:3.13-slim
        """)
        in text
    )
    assert git(service, "status", "--porcelain", "Dockerfile").startswith("UU")
