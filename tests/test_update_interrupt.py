"""A real `svc update` process, SIGKILLed at observed points, then undone by `svc update --abort`.

No debug hooks: the test watches the file system for the update's own traces (the state
file, MERGE_HEAD, a file the merge rewrites, a file a migration writes) and kills the
whole process group the moment it sees one. A template migration that sleeps keeps the
update alive until the kill, so every kill point is reached whatever the machine's speed.
Where exactly the signal lands after the trace appears varies; the promise holds anywhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from update_support import (
    BASE_FILES,
    TemplateRepo,
    commit_all,
    edit,
    git,
    new_service,
    repo_state,
    svc,
    template_repo,
    with_changes,
)

FILES = 150  # enough that git spends a noticeable while writing the merge into the tree
BULK: dict[str, str | bytes] = {f"bulk/file{i:04}.txt": f"line {i}\n" * 20 for i in range(FILES)}
WATCHED = f"bulk/file{FILES // 2:04}.txt"
# Writes a file and edits one, says it started, then waits to be killed.
SLOW_MIGRATION = (
    "echo migrated > MIGRATED.txt; echo '# migrated' >> README.md; touch .git/migration-started; sleep 600"
)


def _changed(service: Path, rel: str, original: bytes) -> Callable[[], bool]:
    def seen() -> bool:
        try:
            return (service / rel).read_bytes() != original
        except FileNotFoundError:
            return True  # git removes a file before it writes the new version: it is at work

    return seen


KILL_POINTS: dict[str, Callable[[Path], Callable[[], bool]]] = {
    "state file written": lambda s: (s / ".git/svc-update.json").exists,
    "merge started": lambda s: (s / ".git/MERGE_HEAD").exists,
    "merge writing the tree": lambda s: _changed(s, WATCHED, (s / WATCHED).read_bytes()),
    "migration running": lambda s: (s / ".git/migration-started").exists,
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service and its template's v2.0.0, made once; each test works on its own copy."""
    root = tmp_path_factory.mktemp("interrupt")
    template: TemplateRepo = template_repo(root / "template", "copier")
    template.release("v1.0.0", {**BASE_FILES, **BULK})
    made = new_service(template, root / "out")
    edit(made / "README.md", "Ask the platform team.", "Ask the platform team.\nLOCAL line")
    commit_all(made, "local")
    template.extra_config = {"_migrations": [{"version": "v2.0.0", "command": SLOW_MIGRATION}]}
    bulk_v2 = {rel: text + "changed\n" for rel, text in BULK.items() if isinstance(text, str)}
    template.release("v2.0.0", with_changes({**BASE_FILES, **bulk_v2}, {"docs/new/page.md": "new\n"}))
    return made


@pytest.fixture
def service(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the service of its own, so that one failing test leaves the next unharmed."""
    copy = tmp_path / pristine.name
    shutil.copytree(pristine, copy, symlinks=True)
    return copy


def _kill_when(service: Path, seen: Callable[[], bool]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "update", str(service), "--trust"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        while not seen():
            assert proc.poll() is None, f"svc update ended early: {proc.communicate()[1]!r}"
            time.sleep(0.005)
    finally:
        # The whole group: git and the migration die with svc, as on a closed terminal.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_abort_restores_everything(service: Path, point: str) -> None:
    before = repo_state(service)

    _kill_when(service, KILL_POINTS[point](service))
    assert (service / ".git/svc-update.json").exists()
    if (service / ".git/MERGE_HEAD").exists():
        refused = svc("update", service, "--trust")
        assert refused.exit_code == 2 and "--abort" in refused.output

    result = svc("update", "--abort", service)

    assert result.exit_code == 0, result.output
    assert repo_state(service) == before
    (service / ".git/migration-started").unlink(missing_ok=True)
    assert git(service, "fsck", "--no-progress", "--no-dangling") == ""


def _start_update(service: Path) -> subprocess.Popen[bytes]:
    """A real `svc update` that stays in its migration (it sleeps) until the test ends it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "update", str(service), "--trust"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    started = service / ".git/migration-started"
    deadline = time.monotonic() + 60
    while not started.exists():
        assert proc.poll() is None, f"svc update ended early: {proc.communicate()[1]!r}"
        assert time.monotonic() < deadline, "the migration never started"
        time.sleep(0.01)
    return proc


def test_sigterm_rolls_back_and_exits_143(service: Path) -> None:
    before = repo_state(service)
    proc = _start_update(service)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert b"Terminated" in stderr
    (service / ".git/migration-started").unlink(missing_ok=True)
    assert repo_state(service) == before


def test_a_second_update_or_an_abort_waits_for_the_running_one(service: Path) -> None:
    before = repo_state(service)
    proc = _start_update(service)
    try:
        second = svc("update", service, "--trust")
        assert second.exit_code == 2
        assert "Another svc command is updating" in second.output
        early = svc("update", "--abort", service)
        assert early.exit_code == 2
        assert "Another svc command is updating" in early.output
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # The kernel dropped the dead update's lock: the abort goes ahead.
    result = svc("update", "--abort", service)
    assert result.exit_code == 0, result.output
    (service / ".git/migration-started").unlink(missing_ok=True)
    assert repo_state(service) == before


@pytest.mark.slow
def test_abort_refuses_while_the_killed_updates_processes_still_run(service: Path) -> None:
    """svc itself is gone, but what it started lives on in its process group (here the
    migration; after a kill during the merge, git merge-recursive) and holds index.lock."""
    before = repo_state(service)
    proc = _start_update(service)
    lock = service / ".git/index.lock"
    try:
        proc.kill()  # svc alone: the rest of its group lives on
        proc.wait()
        lock.touch()  # as the still-running git holds it
        refused = svc("update", "--abort", service)
        assert refused.exit_code == 2
        assert "index.lock" in refused.output
        assert lock.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    # Once the group is gone, its lock is known to be stale.
    result = svc("update", "--abort", service)
    assert result.exit_code == 0, result.output
    (service / ".git/migration-started").unlink(missing_ok=True)
    assert repo_state(service) == before


def test_abort_after_a_kill_in_a_migration_keeps_files_the_user_made_since(service: Path) -> None:
    before = repo_state(service)
    _kill_when(service, KILL_POINTS["migration running"](service))
    assert (service / "MIGRATED.txt").exists()
    time.sleep(1.5)  # the user looks around, then writes notes before aborting
    (service / "NOTES.md").write_text("what I saw\n")
    (service / "scratch").mkdir()
    (service / "scratch" / "log.txt").write_text("kept\n")

    result = svc("update", "--abort", service)

    assert result.exit_code == 0, result.output
    assert not (service / "MIGRATED.txt").exists()
    assert (service / "NOTES.md").read_text() == "what I saw\n"
    assert (service / "scratch" / "log.txt").read_text() == "kept\n"
    for made in ("NOTES.md", "scratch/log.txt"):
        (service / made).unlink()
    (service / "scratch").rmdir()
    (service / ".git/migration-started").unlink(missing_ok=True)
    assert repo_state(service) == before
