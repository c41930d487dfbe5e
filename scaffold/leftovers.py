"""What a killed svc leaves behind, and how the next command of its kind tidies it.

A SIGKILL runs no cleanup: `svc new` leaves its hidden staging folder (`.NAME.svc-XXXX`)
beside the target, `svc update` a private index (`.git/svc-index-PID`), `svc fleet` a
temporary folder (`svc-fleet-XXXX`) with a worktree in it. Each is marked with the process
that made it, and removed by the next command of the same kind once that process is gone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from . import processes

OWNER_FILE = ".svc-owner"


def claim(folder: Path) -> None:
    """Mark `folder` as this process's, for as long as it runs."""
    (folder / OWNER_FILE).write_text(str(os.getpid()))


def abandoned(folder: Path) -> bool:
    """A folder claimed by a process that is gone (an unclaimed one is never taken for it)."""
    try:
        pid = int((folder / OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    return _gone(pid)


def tidy_staging(output_dir: Path) -> None:
    """Remove the staging folders of `svc new` runs in `output_dir` that were killed."""
    for folder in output_dir.glob(".*.svc-*"):
        if folder.is_dir() and not folder.is_symlink() and abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)


def tidy_fleet_folders(parent: Path) -> None:
    """Remove the temporary folders (`svc-fleet-*`) of killed fleet runs in `parent` that hold
    nothing more: a service's scratch folder in one stays until that service's next update
    has put back what the killed run moved (see fleet.Journal)."""
    for folder in parent.glob("svc-fleet-*"):
        if folder.is_dir() and not folder.is_symlink() and abandoned(folder):
            with contextlib.suppress(OSError):  # another svc may be removing it
                if [entry.name for entry in folder.iterdir()] == [OWNER_FILE]:
                    shutil.rmtree(folder, ignore_errors=True)


def tidy_indexes(git_dir: Path) -> None:
    """Remove the private indexes (`svc-index-PID`) of svc processes that are gone."""
    for index in git_dir.glob("svc-index-*"):
        pid = index.name.rpartition("-")[2]
        if pid.isdigit() and _gone(int(pid)):
            index.unlink(missing_ok=True)


def _gone(pid: int) -> bool:
    return pid != os.getpid() and not processes.alive(pid)
