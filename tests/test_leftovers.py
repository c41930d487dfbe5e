"""What a SIGKILLed svc leaves behind is tidied by the next command of its kind, once the
process that made it is gone. The test-only pause (scaffold/test_pause.py) stops svc at
the chosen point, so the kill lands exactly there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from update_support import BASE_FILES, git, new_service, svc, template_repo, with_changes


def _killed_at(point: str, args: list[str], tmp_path: Path) -> None:
    """Run `svc ARGS`, let it reach `point`, then SIGKILL it and everything it started."""
    marks = tmp_path / "pauses"
    marks.mkdir(exist_ok=True)
    env = {**os.environ, "SVC_TEST_PAUSE": point, "SVC_TEST_PAUSE_DIR": str(marks)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (marks / point).exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, f"svc never reached {point}"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_svc_new_removes_the_staging_folder_of_a_killed_svc_new(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    out = tmp_path / "out"
    _killed_at(
        "new-rendered", ["new", "one", "-t", str(template.path), "-o", str(out), "--defaults"], tmp_path
    )
    [staging] = list(out.glob(".one.svc-*"))
    assert (staging / "one" / "README.md").is_file()

    assert svc("new", "two", "-t", template.path, "-o", out, "--defaults").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["two"]


def test_svc_new_leaves_the_staging_folder_of_a_running_svc_new_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".one.svc-live").mkdir(parents=True)
    (out / ".one.svc-live" / ".svc-owner").write_text(str(os.getpid()))
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    assert svc("new", "two", "-t", template.path, "-o", out, "--defaults").exit_code == 0
    assert (out / ".one.svc-live").is_dir()


def test_svc_update_removes_a_dead_updates_private_index(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    service = new_service(template, tmp_path / "out")
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = service / ".git" / f"svc-index-{gone.pid}"
    stale.write_bytes(b"DIRC")
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": "FROM python:3.13-slim\n"}))
    assert svc("update", service, "--commit").exit_code == 0
    assert not stale.exists()


def test_svc_fleet_removes_the_worktree_of_a_killed_fleet_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    service = new_service(template, tmp_path / "out")
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": "FROM python:3.13-slim\n"}))
    tip = git(service, "rev-parse", "svc/template")
    _killed_at("fleet-worktree", ["fleet", "update", str(service), "--jobs", "1"], tmp_path)
    assert git(service, "worktree", "list").count("\n") == 2  # the killed run's worktree is left

    result = svc("fleet", "update", service, "--json")
    assert result.exit_code == 0, result.output
    assert git(service, "worktree", "list").count("\n") == 1
    assert git(service, "status", "--porcelain") == ""
    assert git(service, "rev-parse", "svc/update-2.0.0^1") == git(service, "rev-parse", "HEAD")
    assert tip != git(service, "rev-parse", "svc/template")
    # The killed run's temporary folder, emptied by that update, goes with the next fleet run.
    assert [p.name for p in temporary.glob("svc-fleet-*/*")] == [".svc-owner"]
    assert svc("fleet", "status", service).exit_code == 1  # behind until the branch is merged
    assert list(temporary.iterdir()) == []
