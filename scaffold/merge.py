"""The git side of `svc update`: merge a template render into a service, and undo it.

The update is a real merge: `git merge-recursive BASE -- HEAD TARGET` with MERGE_HEAD
written first, so git records conflicts in the index (`git status` shows `UU`), `git
commit` finishes the update and `git merge --abort` undoes it. Before anything changes,
`.git/svc-update.json` records HEAD and `svc/template`; `restore` puts both back, and the
work tree with them, even after the update process was killed half-way.

`svc/template` moves to the target render only once the update is committed: by `svc
update --commit`, or by the next svc run after a `git commit` (`settle`). So `git merge
--abort` alone also leaves the repository exactly as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import git, processes, provenance, render_record
from .errors import RepositoryStateError, ScaffoldError
from .render import ENGINES
from .template_branch import TEMPLATE_BRANCH

STATE_FILE = "svc-update.json"
HEARTBEAT = "svc-migrating"
_TMP = ".svc-tmp"  # beside a file svc writes whole or not at all
_BEAT_SECONDS = 0.2
# File times come from the kernel's coarse clock, a little behind time.time().
_CLOCK_SLACK = 0.1
# How long an abort waits for the git processes of a killed update to end.
_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Plan:
    """The two renders an update merges (as commits), and what the service records after."""

    base: str
    target: str
    before: provenance.Layer
    after: provenance.Layer
    answers: dict[str, Any]
    # Every layer, base first, before and after (before/after above are the top layer).
    before_layers: tuple[provenance.Layer, ...] = ()
    after_layers: tuple[provenance.Layer, ...] = ()

    def moves(self) -> list[str]:
        """One line per layer below the top that changes version, for messages."""
        old = {layer.source: layer for layer in self.before_layers}
        return [
            f"{layer.source}: {_label(old.get(layer.source))} -> {_label(layer)}"
            for layer in self.after_layers[:-1]
            if _moved(old.get(layer.source), layer)
        ]


def _moved(before: provenance.Layer | None, after: provenance.Layer) -> bool:
    return before is None or render_record.layer_identity(before) != render_record.layer_identity(after)


def _label(layer: provenance.Layer | None) -> str:
    if layer is None:
        return "(not a layer before)"
    return layer.version or layer.ref or (layer.commit or "")[:12] or "(unversioned)"


@dataclass(frozen=True)
class FileChange:
    """One file the update touches: A(dded), M(odified), D(eleted), R(enamed), T(ype changed)
    or U(nmerged, a conflict); `old_path` is a rename's old name."""

    status: str
    path: str
    old_path: str | None = None


@dataclass(frozen=True)
class MergeOutcome:
    changed: tuple[str, ...]
    conflicts: tuple[str, ...]
    binary_conflicts: tuple[str, ...]
    files: tuple[FileChange, ...] = ()


def refuse_overwriting_ignored(root: Path, plan: Plan) -> None:
    """Refuse when the target adds a path that holds an ignored local file.

    git treats ignored files as expendable and would overwrite such a file (a `.env`, say)
    with the template's; it is not in git, so nothing could bring it back.
    """
    # Added by the new version, not merely absent from HEAD: a file the template shipped
    # before and ships unchanged that the project ignores (a takeover's own .gitignore) is
    # left alone by the merge.
    added = git.out(
        "diff", "--name-only", "--no-renames", "--diff-filter=A", plan.base, plan.target, cwd=root
    )
    in_head = set(tree_paths(root, "HEAD"))
    clashes = [
        rel
        for rel in added.splitlines()
        if rel not in in_head and ((root / rel).exists() or (root / rel).is_symlink())
    ]
    if clashes:
        raise RepositoryStateError(
            f"The new template version adds {', '.join(clashes)}, which exists here as an ignored "
            "file; move it aside, run svc update, then merge your copy back in."
        )


def merge(workdir: Path, plan: Plan) -> MergeOutcome:
    """Merge the target render into `workdir`, leaving an unfinished merge git can finish."""
    gdir = git.git_dir(workdir)
    # MERGE_HEAD first: from here on `git merge --abort` knows there is a merge to undo. Written
    # whole or not at all, so an abort after a kill never finds it half-written.
    _write_atomically(gdir / "MERGE_HEAD", plan.target + "\n")
    (gdir / "MERGE_MODE").write_text("no-ff")
    below = "".join(f"Base layer {move}\n" for move in plan.moves())
    (gdir / "MERGE_MSG").write_text(
        f"Update template to {plan.after.describe()}\n\n"
        f"From {plan.before.describe()}, by svc update.\n{below}"
    )
    label = {f"GITHEAD_{plan.target}": f"template {plan.after.version or plan.target[:12]}"}
    done = git.run(
        "merge-recursive", plan.base, "--", "HEAD", plan.target, cwd=workdir, env=label, check=False
    )
    if done.returncode not in (0, 1):
        raise ScaffoldError(f"git could not merge the template: {done.stderr.decode().strip()}")
    _write_owned_files(workdir, plan)
    return outcome(workdir)


def outcome(workdir: Path) -> MergeOutcome:
    conflicts = tuple(git.out("diff", "--name-only", "--diff-filter=U", cwd=workdir).splitlines())
    binary = tuple(p for p in conflicts if _is_binary_conflict(workdir, p))
    changed = tuple(git.out("diff", "--cached", "--name-only", "HEAD", cwd=workdir).splitlines())
    return MergeOutcome(changed, conflicts, binary, file_changes(workdir))


def file_changes(workdir: Path) -> tuple[FileChange, ...]:
    """What the staged update does to each file, renames followed as git's merge followed them."""
    listing = git.run("diff", "--cached", "--name-status", "-M", "-z", "HEAD", cwd=workdir).stdout
    fields = listing.decode(errors="surrogateescape").split("\0")
    found: list[FileChange] = []
    i = 0
    while i < len(fields) - 1:
        status = fields[i][:1]
        if status in ("R", "C"):
            found.append(FileChange(status, fields[i + 2], fields[i + 1]))
            i += 3
        else:
            found.append(FileChange(status, fields[i + 1]))
            i += 2
    return tuple(found)


def _write_owned_files(workdir: Path, plan: Plan) -> None:
    """`.svc.yml` ends as the target's: svc keeps it, it does not merge. Each format's answers
    file ends as its engine says, so its own tool keeps working on the service."""
    answers_files = {
        engine: (plan.after.answers_file if engine.name == plan.after.format else None) or engine.answers_file
        for engine in ENGINES.values()
    }
    wanted = [(plan.target, provenance.FILENAME)]
    wanted += [
        (rev, rel) for rel in answers_files.values() if rel is not None for rev in ("HEAD", plan.target)
    ]
    blobs = git.blobs(workdir, *(f"{rev}:{rel}" for rev, rel in wanted))
    shown = {key: None if blob is None else blob.decode() for key, blob in zip(wanted, blobs, strict=True)}
    written: dict[str, str] = {}
    if (target := shown[plan.target, provenance.FILENAME]) is not None:
        written[provenance.FILENAME] = target
    for engine, rel in answers_files.items():
        if rel is not None:
            kept = engine.answers_file_after_update(
                shown["HEAD", rel], shown[plan.target, rel], plan.after, plan.answers
            )
            if kept is not None:
                written[rel] = kept
    for rel, text in written.items():
        (workdir / rel).write_text(text)
    if written:
        git.run("add", "--", *written, cwd=workdir)


def _is_binary_conflict(workdir: Path, rel: str) -> bool:
    """Git's own test: a NUL byte in the first 8000 bytes of any side makes a file binary."""
    for line in git.out("ls-files", "--unmerged", "--", rel, cwd=workdir).splitlines():
        blob = line.split()[1]
        if b"\0" in git.run("cat-file", "blob", blob, cwd=workdir).stdout[:8000]:
            return True
    return False


def stage_all_but_conflicts(workdir: Path, conflicts: tuple[str, ...]) -> None:
    """Stage what migrations changed, leaving conflicted files unresolved."""
    excludes = [f":(exclude,literal){rel}" for rel in conflicts]
    git.run("add", "--all", "--", ".", *excludes, cwd=workdir)


def staged_diff(workdir: Path) -> str:
    git.run("add", "--all", cwd=workdir)
    return git.run("diff", "--cached", "--binary", "HEAD", cwd=workdir).stdout.decode(errors="replace")


@contextmanager
def scratch_worktree(root: Path) -> Iterator[Path]:
    """A throw-away checkout of HEAD, so a dry run leaves the service untouched."""
    tmp = Path(tempfile.mkdtemp(prefix="svc-dry-run-"))
    scratch = tmp / "worktree"
    git.run("worktree", "add", "--quiet", "--detach", str(scratch), "HEAD", cwd=root)
    try:
        yield scratch
    finally:
        git.run("worktree", "remove", "--force", str(scratch), cwd=root, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        git.run("worktree", "prune", cwd=root, check=False)


# --- the state file: abort, and settling a finished update ---------------------------------


def save_state(root: Path, plan: Plan, phase: str = "merging") -> None:
    """Record what `restore` needs, atomically, before the update changes anything."""
    state = {
        "head": git.out("rev-parse", "HEAD", cwd=root),
        "template": git.rev(root, TEMPLATE_BRANCH),
        "target": plan.target,
        "phase": phase,
        # Who runs the update: an abort after a kill waits for what it started (git) to end.
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
    }
    _write_state(root, state)


def set_phase(root: Path, phase: str, **extra: Any) -> None:
    state = load_state(root)
    if state is not None:
        _write_state(root, {**state, **extra, "phase": phase})


@contextmanager
def migrating(root: Path) -> Iterator[None]:
    """The phase in which migrations run, with a heartbeat file touched every fraction of a
    second: after a kill, its last beat dates the update's death, which tells the files the
    migrations made (unstaged yet) from files the user made since."""
    beat = git.git_dir(root) / HEARTBEAT
    beat.touch()
    set_phase(root, "migrating", migrations_started=time.time())
    stop = threading.Event()

    def keep_beating() -> None:
        while not stop.wait(_BEAT_SECONDS):
            beat.touch()

    beating = threading.Thread(target=keep_beating, name="svc-migration-heartbeat", daemon=True)
    beating.start()
    try:
        yield
    finally:
        stop.set()
        beating.join()
        beat.touch()


def _remove_migration_files(root: Path, state: dict[str, Any]) -> None:
    """Remove the untracked files the migrations made: made after they started and before the
    update's last heartbeat. A file the user made after the update died is left alone."""
    started = float(state.get("migrations_started", 0.0)) - _CLOCK_SLACK
    beat = git.git_dir(root) / HEARTBEAT
    last = beat.stat().st_mtime if beat.exists() else time.time()
    until = last + _BEAT_SECONDS + _CLOCK_SLACK
    listing = git.run("ls-files", "-z", "--others", "--exclude-standard", cwd=root).stdout
    for rel in listing.decode(errors="surrogateescape").split("\0"):
        path = root / rel
        if rel and (path.is_file() or path.is_symlink()) and started <= path.lstat().st_ctime <= until:
            _remove_untracked(root, rel)


def _write_state(root: Path, state: dict[str, Any]) -> None:
    _write_atomically(state_path(root), json.dumps(state))


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + _TMP)
    tmp.write_text(text)
    tmp.replace(path)


def load_state(root: Path) -> dict[str, Any] | None:
    path = state_path(root)
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
    except ValueError:
        # Written by rename, so never half a file; unreadable means tampered with.
        raise ScaffoldError(
            f"{path} is not valid JSON; delete it and run 'git merge --abort' if a merge is in progress."
        ) from None
    return state if isinstance(state, dict) else None


def _forget(root: Path) -> None:
    """The update is over, one way or another: its records go."""
    (git.git_dir(root) / HEARTBEAT).unlink(missing_ok=True)
    state_path(root).with_name(STATE_FILE + _TMP).unlink(missing_ok=True)
    state_path(root).unlink(missing_ok=True)


def state_path(root: Path) -> Path:
    return git.git_dir(root) / STATE_FILE


def restore(root: Path, state: dict[str, Any]) -> None:
    """Put HEAD, index, work tree and svc/template back as `state` recorded them."""
    _wait_for_the_update(root, state)
    merging = git.git_dir(root) / "MERGE_HEAD"
    if merging.exists() and merging.read_text().strip() != state["target"]:
        raise RepositoryStateError(
            f"{root} is in the middle of a merge that is not svc's update; finish it with 'git commit' "
            "or undo it with 'git merge --abort'."
        )
    added = set(tree_paths(root, state["target"])) - set(tree_paths(root, state["head"]))
    git.run("reset", "--hard", "--quiet", state["head"], cwd=root)
    for rel in sorted(added):
        _remove_untracked(root, rel)
    if state.get("phase") == "migrating":
        _remove_migration_files(root, state)
    _reset_template_branch(root, state.get("template"))
    for name in ("MERGE_HEAD", "MERGE_MODE", "MERGE_MSG", "MERGE_HEAD" + _TMP):
        (git.git_dir(root) / name).unlink(missing_ok=True)
    _forget(root)


def _wait_for_the_update(root: Path, state: dict[str, Any]) -> None:
    """Make sure nothing the update started still writes to the repository.

    Run in the update's own process (Ctrl-C, SIGTERM), its git children got the signal too.
    After a kill, svc waits a little for the update's process group (svc is its leader when
    started from a shell) to end, and removes `index.lock` only when that git is gone; a lock
    it cannot account for is never removed.
    """
    lock = git.git_dir(root) / "index.lock"
    pid, pgid = state.get("pid"), state.get("pgid")
    if pid == os.getpid():
        lock.unlink(missing_ok=True)  # our own git, interrupted with us
        return
    if isinstance(pid, int) and processes.alive(pid):
        raise RepositoryStateError(
            f"svc update (process {pid}) is still running in {root}; let it finish or stop it, "
            "then run 'svc update --abort' again."
        )
    leader = isinstance(pgid, int) and pgid == pid and pgid != os.getpgid(0)
    deadline = time.monotonic() + _GRACE_SECONDS
    while leader and processes.group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if leader and not processes.group_alive(pgid):
        lock.unlink(missing_ok=True)  # left by the update's git, which is gone
    elif leader or lock.exists():  # the group outlived the wait, or a lock nobody accounts for
        raise RepositoryStateError(
            f"A git process of the interrupted update may still be writing to {root} "
            "(.git/index.lock is held); wait until no git runs there, remove .git/index.lock if "
            "it remains, then run 'svc update --abort' again."
        )


def _remove_untracked(root: Path, rel: str) -> None:
    candidate = root / rel
    if not (candidate.is_file() or candidate.is_symlink()):
        return
    if git.ok("ls-files", "--error-unmatch", "--", rel, cwd=root):
        return
    candidate.unlink()
    parent = candidate.parent
    while parent != root and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _reset_template_branch(root: Path, commit: str | None) -> None:
    ref = f"refs/heads/{TEMPLATE_BRANCH}"
    if commit:
        git.run("update-ref", ref, commit, cwd=root)
    elif git.rev(root, ref) is not None:
        git.run("update-ref", "-d", ref, cwd=root)


def finish(root: Path, target: str) -> None:
    """The update is committed: the target render becomes the branch's tip."""
    tip = git.rev(root, TEMPLATE_BRANCH)
    # Never move the branch back: a fetched svc/template may already be past this render.
    if tip is None or not git.ok("merge-base", "--is-ancestor", target, tip, cwd=root):
        git.run("update-ref", f"refs/heads/{TEMPLATE_BRANCH}", target, cwd=root)
    _forget(root)


def settle(root: Path) -> None:
    """Tidy up after an update that git itself finished or abandoned.

    After `git commit` the merge is in HEAD: move svc/template to its render. After `git
    merge --abort` (or a kill before the merge began) HEAD and the tree are as before: just
    forget the update. While a merge is still under way, leave everything for --abort.
    """
    state = load_state(root)
    if state is None or _under_way(root, state):
        return
    head = git.out("rev-parse", "HEAD", cwd=root)
    if head == state["head"]:
        _reset_template_branch(root, state.get("template"))
        _forget(root)
        return
    if git.ok("merge-base", "--is-ancestor", state["target"], head, cwd=root):
        finish(root, state["target"])
    else:
        _forget(root)


def in_progress(root: Path) -> bool:
    """An update is merging, or staged and neither committed nor aborted yet."""
    state = load_state(root)
    return state is not None and _under_way(root, state)


def _under_way(root: Path, state: dict[str, Any]) -> bool:
    """Git has not ended the update `state` records: a merge is on, or HEAD is where the
    update began and the tree still holds its changes."""
    if (git.git_dir(root) / "MERGE_HEAD").exists():
        return True
    return git.out("rev-parse", "HEAD", cwd=root) == state["head"] and not git.is_clean(root)


def tree_paths(root: Path, commit: str) -> list[str]:
    listing = git.run("ls-tree", "-r", "--name-only", "-z", commit, cwd=root).stdout
    return [p for p in listing.decode(errors="surrogateescape").split("\0") if p]
