"""One svc command at a time changes a repository: an flock on `svc.lock` in git's common
folder (shared by every worktree), so two updates, an update and an abort, or a fleet run
and a hand-run update never undo each other. The kernel drops an flock when its process
dies, so a SIGKILL never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import git
from .errors import RepositoryStateError

LOCK_FILE = "svc.lock"
_PATIENCE_SECONDS = 2.0
# Locks this process holds, by file, with how deeply: a fleet worker holds its service's
# lock while the update inside it takes it again.
_held: dict[Path, int] = {}


def _lock(fd: int, root: Path) -> None:
    """Take the lock; a process that was just killed may take a moment to let go of it."""
    deadline = time.monotonic() + _PATIENCE_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise RepositoryStateError(
                    f"Another svc command is updating {root} right now; let it finish (or stop it), "
                    "then run this again."
                ) from None
            time.sleep(0.05)


@contextmanager
def held(root: Path) -> Iterator[None]:
    """Hold the repository's lock, or refuse at once when another process holds it."""
    path = git.common_dir(root) / LOCK_FILE
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _lock(fd, root)
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
    finally:
        os.close(fd)  # closing the descriptor releases the lock
