"""Which processes still run, read from /proc where there is one.

An abort after a kill must know whether the killed update's git still writes to the
repository, and a rollback must stop everything a migration started. Zombies count as
gone: a container's first process may never reap them. Without /proc (macOS), kill(0)
has to do.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

_PROC = Path("/proc")


def alive(pid: int) -> bool:
    if not _PROC.is_dir():
        return _reaches(lambda: os.kill(pid, 0))
    return _stat(_PROC / str(pid)) is not None


def group_alive(pgid: int | None) -> bool:
    """Whether any process of the process group `pgid` still runs."""
    if pgid is None:
        return False
    if not _PROC.is_dir():
        return _reaches(lambda: os.killpg(pgid, 0))
    return any(stat[1] == pgid for stat in _all_stats().values())


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and every process descended from it (a shell's children included)."""
    stats = _all_stats() if _PROC.is_dir() else {}
    doomed, grew = {pid}, True
    while grew:
        found = {child for child, (parent, _) in stats.items() if parent in doomed}
        grew = not found <= doomed
        doomed |= found
    for victim in doomed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(victim, signal.SIGKILL)


def _all_stats() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every process that still runs."""
    found = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(entry)) is not None:
            found[int(entry.name)] = stat
    return found


def _stat(entry: Path) -> tuple[int, int] | None:
    """(parent pid, process group) of a running process; None for a zombie or one gone."""
    try:
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ")".
        fields = (entry / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    if len(fields) < 3 or fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[2])


def _reaches(send: Callable[[], None]) -> bool:
    try:
        send()
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
