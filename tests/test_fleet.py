"""`svc fleet status` / `svc fleet update` over a fleet of real repositories in tmp_path.

The fleet: services that update cleanly, one that conflicts, one with a dirty work tree,
one made from another template, one already current, one whose update branch exists,
broken ones (corrupt .svc.yml, not a git repository, template gone) and a plain folder.
Every JSON claim is checked against the repositories themselves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from update_support import (
    BASE_FILES,
    commit_all,
    edit,
    git,
    new_service,
    snapshot,
    svc,
    template_repo,
    with_changes,
)

from scaffold import fleet

V2 = with_changes(BASE_FILES, {"Dockerfile": str(BASE_FILES["Dockerfile"]).replace("3.12", "3.13")})
BRANCH = "svc/update-2.0.0"


def _copy(service: Path, dest: Path) -> Path:
    """A second service with the same history: copying is faster than rendering again."""
    shutil.copytree(service, dest, symlinks=True)
    return dest


def _state(repo: Path) -> dict[str, Any]:
    """What the fleet must never touch: work tree bytes, HEAD, index, status, every ref."""
    return {
        "tree": snapshot(repo),
        "head": git(repo, "rev-parse", "HEAD"),
        "index": git(repo, "ls-files", "-s"),
        "status": git(repo, "status", "--porcelain"),
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
    }


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    """Twelve folders in `fleet/`; templates at v1.0.0 and v2.0.0 (a changed Dockerfile)."""
    main = template_repo(tmp_path / "tpl-main", "copier")
    main.release("v1.0.0", BASE_FILES)
    other = template_repo(tmp_path / "tpl-other", "copier")
    other.release("v1.0.0", BASE_FILES)
    gone = template_repo(tmp_path / "tpl-gone", "copier")
    gone.release("v1.0.0", BASE_FILES)

    root = tmp_path / "fleet"
    made = new_service(main, tmp_path / "made")
    for name in ("alpha", "bravo", "conflict", "dirty", "corrupt", "notgit", "exists"):
        _copy(made, root / name)
    _copy(new_service(other, tmp_path / "made-other"), root / "other")
    _copy(new_service(gone, tmp_path / "made-gone"), root / "gone")
    shutil.rmtree(gone.path)
    main.release("v2.0.0", V2)
    other.release("v1.1.0", with_changes(BASE_FILES, {"NOTICE": "other 1.1\n"}))
    _copy(new_service(main, tmp_path / "made-v2"), root / "current")

    edit(root / "conflict" / "Dockerfile", "3.12-slim", "3.12-alpine")
    commit_all(root / "conflict", "local base image")
    edit(root / "dirty" / "README.md", "Ask the platform team.", "Ask #dirty.")
    (root / "dirty" / "scratch.txt").write_text("untracked\n")
    git(root / "dirty", "add", "README.md")
    (root / "corrupt" / ".svc.yml").write_text("layers: [unclosed\n")
    commit_all(root / "corrupt", "break provenance")
    shutil.rmtree(root / "notgit" / ".git")
    git(root / "exists", "branch", BRANCH)
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("not a service\n")
    return root


def _by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["service"]: s for s in doc["services"]}


def test_status_reports_every_service_and_exits_1_when_some_are_behind(fleet_dir: Path) -> None:
    result = svc("fleet", "status", fleet_dir, "--json")
    assert result.exit_code == 1, result.output
    services = _by_name(json.loads(result.output))
    assert {n: s["status"] for n, s in services.items()} == {
        "alpha": "behind",
        "bravo": "behind",
        "conflict": "behind",
        "corrupt": "broken",
        "current": "current",
        "dirty": "behind",
        "docs": "not-a-service",
        "exists": "behind",
        "gone": "broken",
        "notgit": "broken",
        "other": "behind",
    }
    assert services["alpha"]["layers"][0]["current"] == "1.0.0"
    assert services["alpha"]["layers"][0]["newest"] == "2.0.0"
    assert services["other"]["layers"][0]["source"].endswith("tpl-other")
    assert "git repository" in services["notgit"]["reason"]


def test_status_table_and_exit_0_when_all_current(fleet_dir: Path) -> None:
    result = svc("fleet", "status", fleet_dir / "current", fleet_dir / "docs")
    assert result.exit_code == 0, result.output
    assert "current" in result.output and "not a service" in result.output


def test_update_makes_branches_and_never_touches_checkouts(fleet_dir: Path) -> None:
    before = {p.name: _state(p) for p in fleet_dir.iterdir() if (p / ".git").exists()}
    heads = {name: state["head"].strip() for name, state in before.items()}

    result = svc("fleet", "update", fleet_dir, "--jobs", "2", "--json")

    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    services = _by_name(doc)
    status = {n: s["status"] for n, s in services.items()}
    assert status == {
        "alpha": "updated",
        "bravo": "updated",
        "conflict": "conflicts",
        "corrupt": "failed",
        "current": "current",
        "dirty": "updated",
        "docs": "not-a-service",
        "exists": "exists",
        "gone": "failed",
        "notgit": "failed",
        "other": "updated",
    }
    assert doc["summary"]["updated"] == 4 and doc["ok"] is False
    for name in ("alpha", "bravo", "dirty", "other"):
        repo, entry = fleet_dir / name, services[name]
        branch = entry["branch"]
        assert branch == (BRANCH if name != "other" else "svc/update-1.1.0")
        tip = git(repo, "rev-parse", branch).strip()
        assert tip == entry["commit"]
        # A merge of the team's HEAD with the template render; svc/template is that render.
        assert git(repo, "rev-parse", f"{tip}^1").strip() == heads[name]
        assert git(repo, "rev-parse", f"{tip}^2").strip() == git(repo, "rev-parse", "svc/template").strip()
        if name != "other":
            assert "3.13-slim" in git(repo, "show", f"{tip}:Dockerfile")
        # The checkout itself is exactly as before: only the new branch and svc/template moved.
        after = _state(repo)
        assert {k: v for k, v in after.items() if k != "refs"} == {
            k: v for k, v in before[name].items() if k != "refs"
        }
    assert "Ask #dirty." in (fleet_dir / "dirty" / "README.md").read_text()
    assert (fleet_dir / "dirty" / "scratch.txt").is_file()
    assert services["dirty"]["files"] and "Dockerfile" in services["dirty"]["files"]
    # Conflicts, failures, current and existing branch: every ref exactly as before.
    for name in ("conflict", "corrupt", "current", "exists", "gone"):
        assert _state(fleet_dir / name) == before[name], name
    assert services["conflict"]["files"] == ["Dockerfile"]
    assert "exists" in services["exists"]["reason"]
    assert "corrupt" in services["corrupt"]["reason"] or ".svc.yml" in services["corrupt"]["reason"]


def test_update_twice_reports_existing_branches_and_changes_nothing(fleet_dir: Path) -> None:
    targets = [fleet_dir / "alpha", fleet_dir / "current"]
    assert svc("fleet", "update", *targets, "--jobs", "1").exit_code == 0
    before = _state(fleet_dir / "alpha")
    second = svc("fleet", "update", *targets, "--json")
    assert second.exit_code == 1
    assert _by_name(json.loads(second.output))["alpha"]["status"] == "exists"
    assert _state(fleet_dir / "alpha") == before


def test_branch_option_and_push_to_bare_remotes(fleet_dir: Path, tmp_path: Path) -> None:
    remotes = {}
    for name in ("alpha", "bravo"):
        remotes[name] = tmp_path / "remotes" / f"{name}.git"
        git(tmp_path, "init", "-q", "--bare", str(remotes[name]))
        git(fleet_dir / name, "remote", "add", "origin", str(remotes[name]))
    result = svc(
        "fleet", "update", fleet_dir / "alpha", fleet_dir / "bravo", "--branch", "chore/tpl-{version}",
        "--push", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for name, entry in _by_name(json.loads(result.output)).items():
        assert entry["pushed"] is True and entry["branch"] == "chore/tpl-2.0.0"
        remote_tip = git(remotes[name], "rev-parse", "refs/heads/chore/tpl-2.0.0").strip()
        assert remote_tip == entry["commit"]
        # svc/template goes along, at the render the update merged.
        render = git(remotes[name], "rev-parse", "refs/heads/svc/template").strip()
        assert render == git(remotes[name], "rev-parse", f"{remote_tip}^2").strip()


def test_push_without_remote_is_reported(fleet_dir: Path) -> None:
    result = svc("fleet", "update", fleet_dir / "alpha", "--push", "--json")
    assert result.exit_code == 1
    entry = _by_name(json.loads(result.output))["alpha"]
    assert entry["status"] == "failed" and "no remote" in entry["reason"]


def test_unknown_ref_fails_each_service_and_changes_nothing(fleet_dir: Path) -> None:
    before = _state(fleet_dir / "alpha")
    result = svc("fleet", "update", fleet_dir / "alpha", "--ref", "v9.9.9", "--json")
    assert result.exit_code == 1
    entry = _by_name(json.loads(result.output))["alpha"]
    assert entry["status"] == "failed" and "v9.9.9" in entry["reason"]
    assert _state(fleet_dir / "alpha") == before


def test_path_list_file(fleet_dir: Path, tmp_path: Path) -> None:
    listing = tmp_path / "services.txt"
    listing.write_text("# the current one\nfleet/current\n\n" + str(fleet_dir / "alpha") + "\n")
    result = svc("fleet", "status", listing, "--json")
    assert result.exit_code == 1
    assert {s["service"]: s["status"] for s in json.loads(result.output)["services"]} == {
        "current": "current",
        "alpha": "behind",
    }


def test_bad_input_exits_2(tmp_path: Path) -> None:
    missing = svc("fleet", "status", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "does not exist" in missing.output
    (tmp_path / "empty").mkdir()
    empty = svc("fleet", "update", tmp_path / "empty")
    assert empty.exit_code == 2 and "No service found" in empty.output


def _crash_on_bravo(path: Path, scratch: Path) -> fleet.ServiceOutcome:
    """A job whose process dies for one service, as a crashing render would."""
    if path.name == "bravo":
        os._exit(3)
    return fleet.ServiceOutcome(path, "current")


def test_a_crashing_child_fails_only_its_service(tmp_path: Path) -> None:
    paths = [tmp_path / n for n in ("alpha", "bravo", "charlie", "delta")]
    seen: list[str] = []
    outcomes = fleet.run(paths, _crash_on_bravo, jobs=2, on_done=lambda o: seen.append(o.name))
    assert [(o.name, o.status) for o in outcomes] == [
        ("alpha", "current"),
        ("bravo", "failed"),
        ("charlie", "current"),
        ("delta", "current"),
    ]
    assert "crashed" in outcomes[1].reason
    assert sorted(seen) == ["alpha", "bravo", "charlie", "delta"]


def test_real_subprocess_run_prints_plain_lines_and_a_table(fleet_dir: Path) -> None:
    cmd = [sys.executable, "-m", "scaffold", "fleet", "update", str(fleet_dir), "--jobs", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "alpha: updated on svc/update-2.0.0" in done.stdout
    assert "conflict: conflicts" in done.stdout and "update by hand" in done.stdout
    for name in ("alpha", "bravo", "dirty", "conflict"):
        # No worktree left behind, and only the conflict-free services got the branch.
        assert git(fleet_dir / name, "worktree", "list").count("\n") == 1
        has_branch = bool(git(fleet_dir / name, "branch", "--list", BRANCH).strip())
        assert has_branch == (name != "conflict")


def test_ctrl_c_stops_cleanly(fleet_dir: Path, tmp_path: Path) -> None:
    """SIGINT to the whole process group, as a terminal sends it, after the first result."""
    many = tmp_path / "many"
    for i in range(8):
        _copy(fleet_dir / "alpha", many / f"svc-{i}")
    template_tip = git(many / "svc-0", "rev-parse", "svc/template").strip()
    cmd = [sys.executable, "-m", "scaffold", "fleet", "update", str(many), "--jobs", "1"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, first + out + err
    assert "Interrupted" in err and "Traceback" not in err
    # Every service's outcome is reported, the finished ones included.
    assert "8 folder(s):" in out
    statuses = dict(re.findall(r"│ (svc-\d) .*│ (updated|interrupted) +│", out))
    assert sorted(statuses) == [f"svc-{i}" for i in range(8)], out
    assert "updated" in statuses.values() and "interrupted" in statuses.values()
    updated = 0
    for repo in sorted(many.iterdir()):
        assert git(repo, "worktree", "list").count("\n") == 1, repo
        assert git(repo, "status", "--porcelain") == ""
        tip = git(repo, "for-each-ref", "--format=%(objectname)", f"refs/heads/{BRANCH}").strip()
        template = git(repo, "rev-parse", "svc/template").strip()
        if tip:
            # A branch is whole: a merge whose template parent svc/template points at.
            updated += 1
            assert git(repo, "rev-parse", f"{tip}^2").strip() == template
        else:
            assert template == template_tip, repo
    assert 1 <= updated < 8


def test_git_forgets_a_worktree_whose_folder_is_gone(fleet_dir: Path, tmp_path: Path) -> None:
    # As a fleet run killed before a reboot leaves it: git still lists the worktree, whose
    # temporary folder is gone.
    alpha = fleet_dir / "alpha"
    git(alpha, "worktree", "add", "--quiet", "--detach", str(tmp_path / "wiped" / "worktree"), "HEAD")
    shutil.rmtree(tmp_path / "wiped")
    assert "prunable" in git(alpha, "worktree", "list", "--porcelain")

    result = svc("fleet", "update", alpha, "--json")

    assert result.exit_code == 0, result.output
    assert _by_name(json.loads(result.output))["alpha"]["status"] == "updated"
    assert git(alpha, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_release_made_while_the_fleet_runs_reaches_none_of_its_services(tmp_path: Path) -> None:
    main = template_repo(tmp_path / "tpl", "copier")
    main.release("v1.0.0", BASE_FILES)
    made = new_service(main, tmp_path / "made")
    root = tmp_path / "fleet"
    for name in ("alpha", "bravo"):
        _copy(made, root / name)
    main.release("v2.0.0", V2)
    marks = tmp_path / "pauses"
    marks.mkdir()
    env = {**os.environ, "SVC_TEST_PAUSE": "fleet-worktree", "SVC_TEST_PAUSE_DIR": str(marks)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "fleet", "update", str(root), "--jobs", "1", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # The first service is in hand when the platform team tags the next release.
    while not (marks / "fleet-worktree").exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    main.release("v3.0.0", with_changes(V2, {"NOTICE": "v3\n"}))
    (marks / "fleet-worktree.resume").touch()
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, err
    doc = _by_name(json.loads(out))
    assert {name: doc[name]["branch"] for name in doc} == {"alpha": BRANCH, "bravo": BRANCH}
    for name in ("alpha", "bravo"):
        assert git(root / name, "ls-tree", "--name-only", BRANCH, "NOTICE") == ""
