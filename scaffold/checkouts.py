"""Template trees checked out once per commit, kept in the user's cache and checked before use.

Every render of a template in git needs its files on disk: `svc new`, each update's target,
each service of a fleet. Writing a thousand files costs more than rendering them, so a
commit's tree is checked out once and kept. A kept tree is used only as it was made: a
listing of every entry (type, size, mode, modification time), taken when it was made, must
match the tree exactly, or the tree is checked out again. The least recently used trees
beyond MAX_TREES are dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import git

MAX_TREES = 32
_FILES = "files"
_LISTING = "listing.json"


@contextlib.contextmanager
def checked_out(repo: Path, commit: str, cache: Path, check: Callable[[Path], None]) -> Iterator[Path]:
    """The files of `commit` of `repo`, as a clone would check them out. `check` sees a fresh
    tree before it is kept and may refuse it (raise); a kept tree is the one it accepted. When
    the cache cannot be written (a read-only home), the files are checked out for this use only."""
    kept = cache / commit
    if _intact(kept):
        with contextlib.suppress(OSError):
            os.utime(kept / _LISTING)  # used: the last to be dropped
        yield kept / _FILES
        return
    try:
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    except OSError:
        with tempfile.TemporaryDirectory(prefix="svc-template-") as scratch:
            yield _fresh(repo, commit, Path(scratch), check)
        return
    try:
        _fresh(repo, commit, building, check)
        (building / _LISTING).write_text(json.dumps(_listing(building / _FILES)))
        if not _intact(kept):  # another svc may have made it meanwhile
            _set_aside(kept)
            try:
                building.rename(kept)
            except OSError:  # another svc made it first; theirs is the same tree
                if not _intact(kept):
                    raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _drop_least_used(cache)
    yield kept / _FILES


def _fresh(repo: Path, commit: str, folder: Path, check: Callable[[Path], None]) -> Path:
    files = folder / _FILES
    files.mkdir()
    _check_out(repo, commit, files, folder / "index")
    (folder / "index").unlink()
    check(files)
    return files


def _check_out(repo: Path, commit: str, dest: Path, index: Path) -> None:
    """The files of `commit` as committed, into `dest`: as a clone would check them out (no
    `export-subst` or `export-ignore`, which `git archive` would apply), without touching the
    repository's own index or work tree."""
    env = {"GIT_INDEX_FILE": str(index), "GIT_WORK_TREE": str(dest), "GIT_DIR": str(git.git_dir(repo))}
    git.run("read-tree", commit, cwd=dest, env=env)
    git.run("checkout-index", "--all", "--force", cwd=dest, env=env)


def _listing(files: Path) -> dict[str, list[int]]:
    """Every entry below `files` (folders and links too) with its type and mode, size and
    modification time: any write, addition or removal changes it."""
    found: dict[str, list[int]] = {}
    folders = [(str(files), "")]
    while folders:
        folder, prefix = folders.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    folders.append((entry.path, rel + "/"))
                    found[rel] = [info.st_mode, 0, info.st_mtime_ns]
                else:
                    found[rel] = [info.st_mode, info.st_size, info.st_mtime_ns]
    return found


def _intact(kept: Path) -> bool:
    try:
        recorded = json.loads((kept / _LISTING).read_text())
    except (OSError, ValueError):
        return False
    return bool(recorded == _listing(kept / _FILES))


def _set_aside(kept: Path) -> None:
    """Remove a kept tree that is not intact, first moving it aside (a rename is atomic)."""
    if not kept.exists():
        return
    aside = Path(tempfile.mkdtemp(prefix=".stale-", dir=kept.parent))
    with contextlib.suppress(OSError):  # another svc moved it already
        kept.rename(aside / "tree")
    shutil.rmtree(aside, ignore_errors=True)


def _drop_least_used(cache: Path) -> None:
    """Drop the trees beyond MAX_TREES, least recently used first, and what an interrupted svc left."""
    hour_ago = time.time() - 3600
    for left in cache.glob(".*"):
        with contextlib.suppress(OSError):  # another svc may be removing it
            if left.stat().st_mtime < hour_ago:
                shutil.rmtree(left, ignore_errors=True)
    trees = [path for path in cache.iterdir() if not path.name.startswith(".")]
    if len(trees) <= MAX_TREES:
        return

    def last_used(tree: Path) -> int:
        try:
            return (tree / _LISTING).stat().st_mtime_ns
        except OSError:
            return 0

    for tree in sorted(trees, key=last_used)[: len(trees) - MAX_TREES]:
        _set_aside(tree)
