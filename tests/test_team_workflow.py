"""`svc update` in a team's real workflow: a shared origin, several clones, pull requests.

Every story runs for both template formats on real repositories: a bare "origin" on disk,
clones made with `git clone`, pull requests merged with a merge commit, squashed or rebased,
branches pushed and fetched. Each checks what a team would: every line it wrote survives,
the template's change arrives, and the exit code is the contract's.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from update_support import (
    BASE_FILES,
    TemplateRepo,
    edit,
    git,
    new_service,
    repo_state,
    svc,
    template_repo,
    with_changes,
    without_render_trailers,
)

from scaffold import __version__

FEATURE = "def feature() -> str:\n    return 'the team wrote this'\n"
README_EDIT = "Ask the platform team (LOCAL EDIT: or #billing-oncall)."
V2_DOCKERFILE = str(BASE_FILES["Dockerfile"]).replace("python:3.12-slim", "python:3.13-slim")
V3_REGISTRY = str(BASE_FILES["app/registry.py"]) + "\n\ndef heartbeat(name: str) -> None:\n    print(name)\n"


@dataclass
class Team:
    """A template, the origin every clone pushes to, and the first clone (made by svc new)."""

    template: TemplateRepo
    origin: Path
    first: Path
    root: Path

    def clone(self, name: str, *args: str) -> Path:
        dest = self.root / name
        source = f"file://{self.origin}" if "--depth" in args else str(self.origin)
        subprocess.run(["git", "clone", "-q", *args, source, str(dest)], check=True)
        return dest

    def release_v2(self) -> None:
        self.template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKERFILE}))

    def release_v3(self) -> None:
        changes = {"Dockerfile": V2_DOCKERFILE, "app/registry.py": V3_REGISTRY}
        self.template.release("v3.0.0", with_changes(BASE_FILES, changes))


def shared_service(root: Path, template: TemplateRepo, *new_args: str) -> Team:
    """`svc new` from `template` v1.0.0, pushed with svc/template to a bare origin."""
    template.release("v1.0.0", BASE_FILES)
    first = new_service(template, root / "made", *new_args)
    origin = root / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    git(first, "remote", "add", "origin", str(origin))
    git(first, "push", "-q", "origin", "main", "svc/template")
    return Team(template, origin, first, root)


@pytest.fixture
def team(tmp_path: Path, fmt: str) -> Team:
    return shared_service(tmp_path, template_repo(tmp_path / "template", fmt))


def pull_request(repo: Path, branch: str = "feature") -> None:
    """The team's work on a branch: a new file and an edited template line."""
    git(repo, "switch", "-q", "-c", branch)
    (repo / "feature.py").write_text(FEATURE)
    edit(repo / "README.md", "Ask the platform team.", README_EDIT)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature")
    git(repo, "switch", "-q", "main")


def merge_commit(repo: Path, branch: str = "feature") -> None:
    git(repo, "merge", "-q", "--no-ff", branch, "-m", "Merge pull request #1 from feature")


def squash(repo: Path, branch: str = "feature") -> None:
    git(repo, "merge", "-q", "--squash", branch)
    git(repo, "commit", "-q", "-m", "feature (#1)")


def rebase(repo: Path, branch: str = "feature") -> None:
    git(repo, "rebase", "-q", "main", branch)
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", branch)


MERGES: dict[str, Callable[[Path], None]] = {"merge": merge_commit, "squash": squash, "rebase": rebase}


def team_work_survives(repo: Path) -> None:
    assert (repo / "feature.py").read_text() == FEATURE
    assert README_EDIT in (repo / "README.md").read_text()
    assert "feature.py" in git(repo, "ls-files")
    staged = git(repo, "diff", "--cached", "--name-status", "HEAD")
    assert "feature.py" not in staged, staged


def update_arrives(repo: Path, *args: str) -> None:
    result = svc("update", repo, *args)
    assert result.exit_code == 0, result.output
    assert "python:3.13-slim" in (repo / "Dockerfile").read_text()
    team_work_survives(repo)


def test_the_reported_repro_keeps_the_pull_request(team: Team):
    repo = team.first
    pull_request(repo)
    merge_commit(repo)
    git(repo, "branch", "-D", "svc/template")
    team.release_v2()
    result = svc("update", repo)
    assert result.exit_code == 0, result.output
    team_work_survives(repo)
    assert "python:3.13-slim" in (repo / "Dockerfile").read_text()
    assert "feature.py" not in result.output
    assert "M Dockerfile" in result.output


@pytest.mark.parametrize("how", MERGES)
@pytest.mark.parametrize("branch", ["fetched", "missing"])
def test_a_merged_pull_request_survives_the_update_in_a_fresh_clone(team: Team, how: str, branch: str):
    args = ("--single-branch",) if branch == "missing" else ()
    repo = team.clone("b", *args)
    pull_request(repo)
    MERGES[how](repo)
    team.release_v2()
    update_arrives(repo)


def test_a_depth_one_clone_checks_and_updates(team: Team):
    pull_request(team.first)
    merge_commit(team.first)
    git(team.first, "push", "-q", "origin", "main")
    team.release_v2()
    repo = team.clone("ci", "--depth", "1")
    checked = svc("check", repo)
    assert checked.exit_code == 1, checked.output
    assert "behind" in checked.output
    diffed = svc("diff", repo)
    assert diffed.exit_code == 1, diffed.output
    assert "+FROM python:3.13-slim" in diffed.output
    assert "feature.py" not in diffed.output
    update_arrives(repo)


def test_a_stale_branch_after_an_update_committed_elsewhere_moves_forward(team: Team):
    b = team.clone("b")
    team.release_v2()
    # Developer A finishes the update with plain `git commit` and pushes main only.
    a = team.first
    assert svc("update", a).exit_code == 0
    git(a, "commit", "-q", "--no-edit")
    git(a, "push", "-q", "origin", "main")
    # Developer B pulls, merges a pull request and takes the next release.
    git(b, "pull", "-q", "--no-rebase", "origin", "main")
    git(b, "branch", "svc/template", "origin/svc/template")
    stale = git(b, "rev-parse", "svc/template").strip()
    pull_request(b)
    merge_commit(b)
    team.release_v3()
    result = svc("update", b)
    assert result.exit_code == 0, result.output
    team_work_survives(b)
    assert "def heartbeat" in (b / "app/registry.py").read_text()
    assert "python:3.13-slim" in (b / "Dockerfile").read_text()
    # The branch moved forward to A's render before the update, never back.
    render_v2 = git(b, "rev-parse", "origin/main^2").strip()
    assert git(b, "rev-parse", "svc/template").strip() == render_v2
    assert git(b, "merge-base", "--is-ancestor", stale, render_v2) == ""
    assert git(b, "rev-parse", "MERGE_HEAD^").strip() == render_v2


def clone_behind_an_update(team: Team) -> Path:
    """A clone of main after the first clone committed the v2 update and pushed main only:
    its svc/template (from origin) is still the v1 render."""
    team.release_v2()
    assert svc("update", team.first, "--commit").exit_code == 0
    git(team.first, "push", "-q", "origin", "main")
    b = team.clone("b")
    git(b, "branch", "svc/template", "origin/svc/template")
    return b


def test_abort_after_moving_a_stale_branch_puts_everything_back(team: Team):
    b = clone_behind_an_update(team)
    team.release_v3()
    before = repo_state(b)
    assert svc("update", b).exit_code == 0
    assert git(b, "rev-parse", "svc/template") == git(b, "rev-parse", "HEAD^2")
    assert svc("update", "--abort", b).exit_code == 0
    assert repo_state(b) == before


def test_fleet_update_moves_a_stale_branch_forward_first(team: Team):
    b = clone_behind_an_update(team)
    pull_request(b)
    merge_commit(b)
    team.release_v3()
    result = svc("fleet", "update", b, "--json")
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.output)["services"]
    render_v3 = git(b, "rev-parse", f"{entry['commit']}^2").strip()
    assert git(b, "rev-parse", f"{render_v3}^").strip() == git(team.first, "rev-parse", "HEAD^2").strip()
    git(b, "switch", "-q", entry["branch"])
    team_work_survives(b)
    assert "def heartbeat" in (b / "app/registry.py").read_text()


def test_check_and_diff_never_move_the_branch(team: Team):
    team.release_v2()
    a = team.first
    assert svc("update", a).exit_code == 0
    git(a, "commit", "-q", "--no-edit")
    git(a, "push", "-q", "origin", "main")
    b = team.clone("b")
    git(b, "branch", "svc/template", "origin/svc/template")
    before = git(b, "for-each-ref")
    assert svc("check", b).exit_code == 0
    diffed = svc("diff", b, "--ref", "v1.0.0")
    assert diffed.exit_code == 1
    assert "-FROM python:3.13-slim" in diffed.output
    assert git(b, "for-each-ref") == before
    # An update does move it forward, to the render A's merge holds.
    assert svc("update", b, "--ref", "v1.0.0").exit_code == 0
    assert git(b, "rev-parse", "svc/template") == git(b, "rev-parse", "HEAD^2")


def test_two_clones_making_the_same_update_push_the_same_render(team: Team):
    b = team.clone("b")
    git(b, "branch", "svc/template", "origin/svc/template")
    team.release_v2()
    a = team.first
    assert svc("update", a, "--commit").exit_code == 0
    assert svc("update", b).exit_code == 0
    git(b, "commit", "-q", "--no-edit")
    assert svc("update", b).exit_code == 0  # already current; settles svc/template
    git(a, "push", "-q", "origin", "main", "svc/template")
    assert git(b, "rev-parse", "svc/template") == git(a, "rev-parse", "svc/template")
    git(b, "push", "-q", "origin", "svc/template")


def test_clones_that_render_a_squashed_update_again_agree(team: Team):
    # The v2 update was squash-merged: no clone's history holds its render, so each renders
    # v2 again as the base of the next update, and makes the same commits.
    a = team.first
    git(a, "switch", "-q", "-c", "template-v2")
    team.release_v2()
    assert svc("update", a, "--commit").exit_code == 0
    git(a, "switch", "-q", "main")
    squash(a, "template-v2")
    git(a, "push", "-q", "origin", "main")
    team.release_v3()
    targets = []
    for name in ("b", "c"):
        repo = team.clone(name, "--single-branch")
        pull_request(repo)
        merge_commit(repo)
        assert svc("update", repo, "--commit").exit_code == 0
        team_work_survives(repo)
        assert "def heartbeat" in (repo / "app/registry.py").read_text()
        targets.append(git(repo, "rev-parse", "HEAD^2"))
    assert targets[0] == targets[1]


def test_one_clone_after_the_other_both_push_the_branch(team: Team):
    b = team.clone("b")
    git(b, "branch", "svc/template", "origin/svc/template")
    team.release_v2()
    a = team.first
    assert svc("update", a, "--commit").exit_code == 0
    git(a, "push", "-q", "origin", "main", "svc/template")
    git(b, "pull", "-q", "--no-rebase", "origin", "main")
    pull_request(b)
    merge_commit(b)
    team.release_v3()
    assert svc("update", b, "--commit").exit_code == 0
    team_work_survives(b)
    git(b, "push", "-q", "origin", "main", "svc/template")
    git(a, "pull", "-q", "--no-rebase", "origin", "main")
    assert svc("check", a).exit_code == 0


def test_an_update_cherry_picked_onto_another_branch(team: Team):
    repo = team.first
    pull_request(repo)
    team.release_v2()
    git(repo, "switch", "-q", "-c", "template-update")
    assert svc("update", repo, "--commit").exit_code == 0
    git(repo, "switch", "-q", "feature")
    git(repo, "cherry-pick", "-m", "1", "template-update")
    team.release_v3()
    result = svc("update", repo)
    assert result.exit_code == 0, result.output
    git(repo, "commit", "-q", "--no-edit")
    team_work_survives(repo)
    assert "def heartbeat" in (repo / "app/registry.py").read_text()


def test_an_update_reverted_and_taken_again(team: Team):
    repo = team.first
    pull_request(repo)
    merge_commit(repo)
    team.release_v2()
    assert svc("update", repo, "--commit").exit_code == 0
    git(repo, "revert", "--no-edit", "-m", "1", "HEAD")
    assert "python:3.12-slim" in (repo / "Dockerfile").read_text()
    update_arrives(repo)


@pytest.mark.parametrize("branch", ["kept", "deleted"])
def test_a_service_made_before_render_trailers(team: Team, branch: str):
    repo = team.first
    without_render_trailers(repo)
    pull_request(repo)
    merge_commit(repo)
    if branch == "deleted":
        git(repo, "branch", "-D", "svc/template")
        git(repo, "update-ref", "-d", "refs/remotes/origin/svc/template")
    team.release_v2()
    update_arrives(repo)


def test_a_feature_branch_tip_is_never_the_base(team: Team):
    # A feature tip carries the render's .svc.yml; the render commits on svc/template decide.
    repo = team.first
    pull_request(repo)
    merge_commit(repo)
    git(repo, "update-ref", "refs/remotes/origin/svc/template", "feature")
    git(repo, "branch", "-D", "svc/template")
    team.release_v2()
    update_arrives(repo)


def test_output_names_each_file_with_its_letter(team: Team):
    repo = team.first
    files = with_changes(
        BASE_FILES,
        {
            "Dockerfile": V2_DOCKERFILE,
            "app/registry.py": None,
            "app/discovery.py": BASE_FILES["app/registry.py"],
            "scripts/run.sh": None,
            "CHANGELOG.md": "# Changes\n",
        },
    )
    team.template.release("v2.0.0", files, executable=())
    result = svc("update", repo)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  M Dockerfile" in lines
    assert "  A CHANGELOG.md" in lines
    assert "  D scripts/run.sh" in lines
    assert "  R app/registry.py -> app/discovery.py" in lines
    svc("update", "--abort", repo)
    doc = json.loads(svc("update", repo, "--json").output)
    assert {"status": "R", "path": "app/discovery.py", "old_path": "app/registry.py"} in doc["files"]
    assert "app/discovery.py" in doc["changed"]


def test_conflicts_are_the_headline_and_check_says_an_update_is_in_progress(team: Team):
    repo = team.first
    edit(repo / "Dockerfile", "python:3.12-slim", "python:3.12-alpine")
    git(repo, "commit", "-qam", "alpine")
    team.release_v2()
    result = svc("update", repo)
    assert result.exit_code == 1
    assert "1 conflict to resolve" in result.output.splitlines()[0]
    assert "Updated" not in result.output
    checked = svc("check", repo)
    assert checked.exit_code == 1
    assert "in progress" in checked.output
    assert "current" not in checked.output


def test_svc_never_runs_the_users_hooks(team: Team):
    repo = team.first
    hook = repo / ".git" / "hooks" / "post-checkout"
    marker = repo.parent / "hook-ran"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    team.release_v2()
    assert svc("diff", repo).exit_code == 1
    assert svc("update", repo, "--commit").exit_code == 0
    assert not marker.exists()


def test_unknown_keys_from_a_newer_svc_are_kept_and_ignored(team: Team):
    repo = team.first
    path = repo / ".svc.yml"
    path.write_text(path.read_text().replace("layers:\n", "deploy: {realms: [dev]}\nlayers:\n", 1))
    path.write_text(path.read_text().replace("  format:", "  signed_by: ops\n  format:", 1))
    git(repo, "commit", "-qam", "a newer svc wrote this")
    team.release_v2()
    assert svc("check", repo).exit_code == 1
    update_result = svc("update", repo, "--commit")
    assert update_result.exit_code == 0, update_result.output
    text = path.read_text()
    assert "deploy:" in text
    assert "signed_by: ops" in text
    assert "v2.0.0" in text or "2.0.0" in text


def test_a_base_rendered_again_uses_the_recorded_answers(tmp_path: Path, fmt: str):
    team = shared_service(tmp_path, template_repo(tmp_path / "template", fmt), "-d", "port=9000")
    repo = team.clone("ci", "--depth", "1")
    team.release_v2()
    result = svc("update", repo, "-d", "port=9100", "-d", "owner=payments")
    assert result.exit_code == 0, result.output
    readme = (repo / "README.md").read_text()
    assert "port 9100" in readme
    assert "owned by payments" in readme
    assert "python:3.13-slim" in (repo / "Dockerfile").read_text()
    # The base held 9000 (recorded), not the -d value: the merge changed the port lines.
    assert "EXPOSE 9100" in (repo / "Dockerfile").read_text()


def test_a_base_rendered_again_runs_with_the_trust_given(tmp_path: Path):
    tasks = {"_tasks": ["echo ran > TASK_RAN"]}
    team = shared_service(
        tmp_path, template_repo(tmp_path / "template", "copier", extra_config=tasks), "--trust"
    )
    repo = team.clone("ci", "--depth", "1")
    team.release_v2()
    refused = svc("update", repo)
    assert refused.exit_code == 2
    assert "--trust" in refused.output
    assert git(repo, "status", "--porcelain") == ""
    result = svc("update", repo, "--trust")
    assert result.exit_code == 0, result.output
    assert "python:3.13-slim" in (repo / "Dockerfile").read_text()


def test_an_old_builtin_base_that_cannot_be_rendered_names_the_branch_to_fetch(tmp_path: Path):
    made = svc("new", "billing", "--defaults", "--output-dir", tmp_path)
    assert made.exit_code == 0, made.output
    repo = tmp_path / "billing"
    edit(repo / ".svc.yml", f"  version: {__version__}", "  version: 0.0.1")
    git(repo, "commit", "-qam", "as an older svc recorded it")
    git(repo, "branch", "-D", "svc/template")
    before = git(repo, "for-each-ref"), git(repo, "status", "--porcelain")
    result = svc("update", repo)
    assert result.exit_code == 2
    assert "git fetch origin svc/template:svc/template" in result.output
    assert (git(repo, "for-each-ref"), git(repo, "status", "--porcelain")) == before


def test_diff_names_a_file_the_template_deletes_and_the_team_edited(team: Team):
    repo = team.first
    edit(repo / "app/registry.py", 'print("register", name)', 'print("register (team)", name)')
    git(repo, "commit", "-qam", "team edit")
    team.template.release("v2.0.0", with_changes(BASE_FILES, {"app/registry.py": None}))
    result = svc("diff", repo)
    assert result.exit_code == 1
    assert "conflict: app/registry.py" in result.stderr
    assert git(repo, "status", "--porcelain") == ""
