"""`svc update`: refusals, --abort, --dry-run, migrations, and projects made by copier or cruft."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from update_support import (
    BASE_FILES,
    TemplateRepo,
    commit_all,
    copier_project,
    cruft_create,
    edit,
    git,
    released_service,
    repo_state,
    svc,
    template_repo,
    with_changes,
)

BIN = Path(sys.executable).parent
V2_DOCKER = str(BASE_FILES["Dockerfile"]).replace("3.12-slim", "3.13-slim")


def _conflicting_v2(template: TemplateRepo, service: Path) -> None:
    """A local edit and a release that clash on the Dockerfile; v2 also adds files."""
    edit(service / "Dockerfile", "3.12-slim", "3.12-alpine")
    commit_all(service, "local")
    template.release(
        "v2.0.0",
        with_changes(
            BASE_FILES,
            {
                "Dockerfile": V2_DOCKER,
                "docs/deep/new.md": "new\n",
                "assets/logo.png": b"\0binary v2",
            },
        ),
    )


# --- refusals: exit 2, nothing changed -------------------------------------------------------


def _refused(service: Path, *args: str) -> str:
    before = repo_state(service)
    result = svc("update", service, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert repo_state(service) == before
    return result.output


@pytest.mark.parametrize("dirt", ["modified", "staged", "untracked"])
def test_dirty_tree_is_refused(tmp_path: Path, fmt: str, dirt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    if dirt == "untracked":
        (service / "notes.txt").write_text("mine\n")
    else:
        edit(service / "README.md", "Ask", "Please ask")
        if dirt == "staged":
            git(service, "add", "README.md")
    assert "uncommitted changes" in _refused(service)


def test_ignored_files_do_not_make_the_tree_dirty(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    (service / ".gitignore").write_text("*.log\n")
    commit_all(service, "ignore logs")
    (service / "debug.log").write_text("noise\n")
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    assert svc("update", service).exit_code == 0
    assert (service / "debug.log").read_text() == "noise\n"


def test_an_ignored_local_file_the_template_now_adds_is_never_overwritten(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    (service / ".gitignore").write_text("local.env\n")
    commit_all(service, "keep secrets out of git")
    (service / "local.env").write_text("TOKEN=mine\n")
    template.release("v2.0.0", with_changes(BASE_FILES, {"local.env": "TOKEN=\n"}))
    assert "local.env" in _refused(service)
    assert (service / "local.env").read_text() == "TOKEN=mine\n"


def test_merge_in_progress_is_refused(tmp_path: Path) -> None:
    template, service = released_service(tmp_path, "copier")
    git(service, "checkout", "-q", "-b", "other")
    edit(service / "README.md", "Ask", "Other ask")
    commit_all(service, "other")
    git(service, "checkout", "-q", "main")
    edit(service / "README.md", "Ask", "Main ask")
    commit_all(service, "main")
    subprocess.run(["git", "merge", "other"], cwd=service, capture_output=True, check=False)
    assert (service / ".git/MERGE_HEAD").exists()
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    assert "middle of a merge" in _refused(service)


def test_unfinished_update_is_refused(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    _conflicting_v2(template, service)
    assert svc("update", service).exit_code == 1
    assert "svc update --abort" in _refused(service)


def test_unknown_ref_is_refused(tmp_path: Path, fmt: str) -> None:
    _, service = released_service(tmp_path, fmt)
    assert "no tag, branch or commit 'v9.9.9'" in _refused(service, "--ref", "v9.9.9")


@pytest.mark.parametrize("damage", ["corrupt", "missing", "unknown schema"])
def test_bad_provenance_is_refused(tmp_path: Path, fmt: str, damage: str) -> None:
    _, service = released_service(tmp_path, fmt)
    prov = service / ".svc.yml"
    if damage == "missing":
        prov.unlink()
        (service / ".copier-answers.yml").unlink(missing_ok=True)
    elif damage == "corrupt":
        prov.write_text("layers: [unclosed\n")
    else:
        prov.write_text(prov.read_text().replace("schema_version: 1", "schema_version: 99"))
    commit_all(service, "damage")
    assert ".svc.yml" in _refused(service)


def test_template_that_has_gone_is_refused(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    shutil.rmtree(template.path)
    assert "does not exist" in _refused(service)


def test_abort_without_an_update_is_refused(tmp_path: Path, fmt: str) -> None:
    _, service = released_service(tmp_path, fmt)
    result = svc("update", "--abort", service)
    assert result.exit_code == 2
    assert "no unfinished svc update" in result.output


# --- abort ----------------------------------------------------------------------------------


def test_abort_restores_everything_byte_for_byte(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    _conflicting_v2(template, service)
    before = repo_state(service)

    assert svc("update", service).exit_code == 1
    assert (service / "docs/deep/new.md").exists()
    result = svc("update", "--abort", service)

    assert result.exit_code == 0, result.output
    assert repo_state(service) == before
    assert not (service / "docs").exists()
    assert not (service / ".git/svc-update.json").exists()


def test_git_merge_abort_restores_everything(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    before = repo_state(service)

    assert svc("update", service).exit_code == 0
    git(service, "merge", "--abort")

    assert repo_state(service) == before
    # svc notices the abandoned update and carries on as if it had never started.
    again = svc("update", service, "--commit")
    assert again.exit_code == 0, again.output
    assert "3.13-slim" in (service / "Dockerfile").read_text()


def test_template_branch_follows_a_git_commit(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    assert svc("update", service).exit_code == 0
    git(service, "commit", "-q", "--no-edit")
    v2_render = git(service, "rev-parse", "HEAD^2")
    template.release("v3.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER, "NEW.md": "3\n"}))

    result = svc("update", service, "--commit")

    assert result.exit_code == 0, result.output
    # The v3 render sits on the v2 render: the base was found, not rendered again.
    assert git(service, "rev-parse", "svc/template") == git(service, "rev-parse", "HEAD^2")
    assert git(service, "rev-parse", "svc/template^") == v2_render


def test_abort_after_git_commit_is_refused(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    assert svc("update", service).exit_code == 0
    git(service, "commit", "-q", "--no-edit")
    before = repo_state(service)

    result = svc("update", "--abort", service)

    assert result.exit_code == 2
    assert "already committed" in result.output
    assert repo_state(service)["tree"] == before["tree"]
    assert git(service, "rev-parse", "svc/template") == git(service, "rev-parse", "HEAD^2")


# --- dry run --------------------------------------------------------------------------------


def test_dry_run_prints_the_change_and_changes_nothing(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    _conflicting_v2(template, service)
    before = repo_state(service)

    result = svc("update", service, "--dry-run")

    assert "would have 1 conflict to resolve" in result.output
    assert "C Dockerfile" in result.output
    assert "+docs/deep/new.md" in result.output or "b/docs/deep/new.md" in result.output
    assert repo_state(service) == before
    assert len(git(service, "worktree", "list").splitlines()) == 1


# --- migrations -----------------------------------------------------------------------------

MIGRATIONS = [
    {"version": "v1.0.0", "command": "echo too-old >> MIGRATED.txt"},
    {
        "version": "v2.0.0",
        "command": "echo {{ service_name }} $VERSION_PEP440_FROM $VERSION_PEP440_TO >> MIGRATED.txt",
    },
    {"version": "v2.0.0", "command": ["sh", "-c", "echo '# migrated' >> README.md"]},
    {"version": "v3.0.0", "command": "echo too-new >> MIGRATED.txt"},
]


def _migrating(tmp_path: Path, migrations: list[object]) -> tuple[TemplateRepo, Path]:
    template, service = released_service(tmp_path, "copier")
    template.extra_config = {"_migrations": migrations}
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    return template, service


def test_migrations_need_trust(tmp_path: Path) -> None:
    _, service = _migrating(tmp_path, MIGRATIONS)
    output = _refused(service)
    assert "--trust" in output
    assert "echo demo $VERSION_PEP440_FROM $VERSION_PEP440_TO >> MIGRATED.txt" in output
    assert "too-old" not in output and "too-new" not in output


def test_migrations_between_the_versions_run_with_trust(tmp_path: Path) -> None:
    _, service = _migrating(tmp_path, MIGRATIONS)
    before = repo_state(service)

    result = svc("update", service, "--trust")

    assert result.exit_code == 0, result.output
    assert "ran echo demo" in result.output
    assert (service / "MIGRATED.txt").read_text() == "demo 1.0.0 2.0.0\n"
    assert (service / "README.md").read_text().endswith("# migrated\n")
    staged = git(service, "diff", "--cached", "--name-only").split()
    assert "MIGRATED.txt" in staged and "README.md" in staged
    assert git(service, "status", "--porcelain", "--untracked-files=all").count("??") == 0
    assert svc("update", "--abort", service).exit_code == 0
    assert repo_state(service) == before


def test_dry_run_lists_migrations_without_running_them(tmp_path: Path) -> None:
    _, service = _migrating(tmp_path, MIGRATIONS)
    before = repo_state(service)
    result = svc("update", service, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would run echo demo" in result.output
    assert repo_state(service) == before


def test_failing_migration_undoes_the_update(tmp_path: Path) -> None:
    _, service = _migrating(tmp_path, [{"version": "v2.0.0", "command": "echo half > HALF.txt; exit 3"}])
    output = _refused(service, "--trust")
    assert "exit code 3" in output
    assert not (service / "HALF.txt").exists()


def test_before_stage_migration_is_refused(tmp_path: Path) -> None:
    _, service = _migrating(
        tmp_path, [{"version": "v2.0.0", "command": "true", "when": "{{ _stage == 'before' }}"}]
    )
    assert "'before' stage" in _refused(service, "--trust")


# --- projects made by plain copier or cruft -------------------------------------------------


def _team_repo(project: Path) -> None:
    git(project, "init", "-q")
    commit_all(project, "generated by the old tool")


def test_copier_project_moves_to_svc(tmp_path: Path) -> None:
    template, project = copier_project(tmp_path)
    _team_repo(project)
    assert svc("update", project).output.count("already on") == 1
    edit(project / "README.md", "Ask the platform team.", "Ask the platform team.\nLOCAL-copier")
    commit_all(project, "local")
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))

    result = svc("update", project, "--commit")

    assert result.exit_code == 0, result.output
    # Versions read alike whether svc made the project or took it over.
    assert f"{template.path} 1.0.0 -> {template.path} 2.0.0" in result.output
    assert "LOCAL-copier" in (project / "README.md").read_text()
    assert "3.13-slim" in (project / "Dockerfile").read_text()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v2.0.0"
    assert answers["_src_path"] == str(template.path)
    assert (project / ".svc.yml").is_file()
    # copier itself agrees the project is current.
    done = subprocess.run(
        [str(BIN / "copier"), "check-update", "--quiet", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_cruft_project_moves_to_svc(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "cookiecutter")
    template.release("v1.0.0", BASE_FILES)
    cruft = cruft_create(template.path, tmp_path)
    project = tmp_path / "demo"
    _team_repo(project)
    assert "already on" in svc("update", project).output
    edit(project / "README.md", "Ask the platform team.", "Ask the platform team.\nLOCAL-cruft")
    commit_all(project, "local")
    v2 = template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))

    result = svc("update", project, "-d", "owner=payments", "--commit")

    assert result.exit_code == 0, result.output
    assert "LOCAL-cruft" in (project / "README.md").read_text()
    assert "owned by payments" in (project / "README.md").read_text()
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == v2 and state["checkout"] == "v2.0.0"
    assert state["context"]["cookiecutter"]["owner"] == "payments"
    assert state["context"]["cookiecutter"]["_commit"] == v2
    done = subprocess.run(
        [cruft, "check", "--project-dir", str(project)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_takeover_leaves_an_ignored_file_the_template_ships_unchanged(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    files = {**BASE_FILES, "local.env": "PORT=8000\n"}
    template.release("v1.0.0", files)
    project = tmp_path / "demo"
    answers = ["--defaults", "--quiet", "-d", "service_name=demo"]
    subprocess.run([str(BIN / "copier"), "copy", *answers, str(template.path), str(project)], check=True)
    (project / ".gitignore").write_text("local.env\n")
    (project / "local.env").write_text("PORT=9999  # my machine\n")
    git(project, "init", "-q")
    commit_all(project, "made by copier; local.env is each developer's own")
    template.release("v2.0.0", with_changes(files, {"Dockerfile": "FROM python:3.13-slim\n"}))

    result = svc("update", project, "--commit")

    assert result.exit_code == 0, result.output
    assert (project / "local.env").read_text() == "PORT=9999  # my machine\n"
    assert "python:3.13-slim" in (project / "Dockerfile").read_text()


def test_an_update_to_an_older_release_says_it_is_a_downgrade(tmp_path: Path) -> None:
    template, service = released_service(tmp_path, "copier")
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    assert svc("update", service, "--commit").exit_code == 0
    back = svc("update", service, "--ref", "v1.0.0")
    assert back.exit_code == 0, back.output
    assert "Note: 1.0.0 is older than 2.0.0; this moves the service back." in back.output
    assert "python:3.12-slim" in (service / "Dockerfile").read_text()


def _copier_project_with_answers_at(tmp_path: Path, answers_file: str) -> tuple[TemplateRepo, Path]:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    project = tmp_path / "demo"
    answers = ["--defaults", "--quiet", "-d", "service_name=demo", "-a", answers_file]
    subprocess.run([str(BIN / "copier"), "copy", *answers, str(template.path), str(project)], check=True)
    git(project, "init", "-q")
    commit_all(project, "made by copier")
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    return template, project


def test_takeover_finds_an_answers_file_with_another_name_and_keeps_it(tmp_path: Path) -> None:
    _, project = _copier_project_with_answers_at(tmp_path, ".copier-answers.acme.yml")
    result = svc("update", project, "--commit")
    assert result.exit_code == 0, result.output
    assert "_commit: v2.0.0" in (project / ".copier-answers.acme.yml").read_text()
    assert not (project / ".copier-answers.yml").exists()
    assert "answers_file: .copier-answers.acme.yml" in (project / ".svc.yml").read_text()
    assert "python:3.13-slim" in (project / "Dockerfile").read_text()


def test_takeover_with_several_answers_files_asks_which(tmp_path: Path) -> None:
    _, project = _copier_project_with_answers_at(tmp_path, ".copier-answers.acme.yml")
    (project / ".copier-answers.other.yml").write_text("_src_path: elsewhere\n")
    commit_all(project, "a second answers file")
    before = repo_state(project)
    refused = svc("update", project)
    assert refused.exit_code == 2
    assert ".copier-answers.acme.yml, .copier-answers.other.yml" in refused.output
    assert "--answers-file" in refused.output
    assert repo_state(project) == before
    chosen = svc("update", project, "--answers-file", ".copier-answers.acme.yml", "--commit")
    assert chosen.exit_code == 0, chosen.output
    assert "_commit: v2.0.0" in (project / ".copier-answers.acme.yml").read_text()


def test_takeover_of_a_project_whose_answers_file_is_in_a_subfolder(tmp_path: Path) -> None:
    """As fastapi's full-stack template keeps it: `.copier/.copier-answers.yml`."""
    template, project = _copier_project_with_answers_at(tmp_path, ".copier/.copier-answers.yml")
    unnamed = svc("update", project)
    assert unnamed.exit_code == 2
    assert "is not a service" in unnamed.output
    taken = svc("update", project, "--answers-file", ".copier/.copier-answers.yml", "--commit")
    assert taken.exit_code == 0, taken.output
    assert "_commit: v2.0.0" in (project / ".copier" / ".copier-answers.yml").read_text()
    assert "answers_file: .copier/.copier-answers.yml" in (project / ".svc.yml").read_text()
    template.release("v3.0.0", with_changes(BASE_FILES, {"Dockerfile": "FROM python:3.14-slim\n"}))
    later = svc("update", project, "--commit")
    assert later.exit_code == 0, later.output
    assert "_commit: v3.0.0" in (project / ".copier" / ".copier-answers.yml").read_text()


def test_takeover_of_a_template_that_runs_code_asks_for_trust_not_for_a_branch(tmp_path: Path) -> None:
    template = template_repo(
        tmp_path / "template", "copier", extra_config={"_tasks": ["echo ran > TASK_RAN"]}
    )
    template.release("v1.0.0", BASE_FILES)
    project = tmp_path / "demo"
    answers = ["--defaults", "--quiet", "--trust", "-d", "service_name=demo"]
    subprocess.run([str(BIN / "copier"), "copy", *answers, str(template.path), str(project)], check=True)
    _team_repo(project)
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    before = repo_state(project)

    refused = svc("update", project)

    assert refused.exit_code == 2
    assert refused.output.rstrip().endswith("pass --trust if you trust it.")
    assert "git fetch" not in refused.output
    assert repo_state(project) == before
    trusted = svc("update", project, "--trust", "--commit")
    assert trusted.exit_code == 0, trusted.output
    assert "3.13-slim" in (project / "Dockerfile").read_text()
