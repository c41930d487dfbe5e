"""`svc fleet`: check or update many service repositories at once.

One function per service returns a `ServiceOutcome`; a pool of processes runs them; every
outcome is reported, and one service failing never stops the others.

- Processes, not threads: copier and cookiecutter change the working directory, which is
  process-wide. The pool uses the spawn context, so a child never inherits the parent's
  locks or open git processes.
- `update` works in a temporary git worktree, detached at the service's HEAD: the branch
  the team has checked out, its work tree and its index are never touched, dirty or not.
  The new branch is created only after the update is committed, so a conflict, an error
  or Ctrl-C leaves no branch behind; `svc/template` (a ref every worktree shares) is put
  back whenever no branch was made.
- Ctrl-C: children ignore SIGINT and finish the service in hand (cleanly, whichever way it
  goes); the parent sets a stop flag so no further service starts.
- A child that dies (a crash in a render) breaks the whole pool; the services it had in
  flight are tidied up and run again one at a time, so only the culprit is reported failed.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Literal

from . import git, leftovers, project, repo_lock, sources, template_branch, test_pause
from .errors import InputError, ScaffoldError, Terminated
from .provenance import Layer
from .template_branch import TEMPLATE_BRANCH

DEFAULT_BRANCH = "svc/update-{version}"

FleetStatus = Literal[
    "current", "behind", "updated", "conflicts", "exists", "not-a-service", "broken", "failed", "interrupted"
]
# What leaves nothing for the user to do; anything else makes the fleet exit 1.
CLEAN: frozenset[str] = frozenset({"current", "updated", "not-a-service"})


@dataclass(frozen=True)
class LayerInfo:
    source: str
    current: str | None
    newest: str | None


@dataclass(frozen=True)
class ServiceOutcome:
    """What happened to one service; `reason` says why when it is not clean."""

    path: Path
    status: FleetStatus
    reason: str = ""
    layers: tuple[LayerInfo, ...] = ()
    branch: str | None = None
    commit: str | None = None
    files: tuple[str, ...] = ()
    pushed: bool = False

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def clean(self) -> bool:
        return self.status in CLEAN


@dataclass(frozen=True)
class UpdateOptions:
    ref: str | None = None
    branch: str = DEFAULT_BRANCH
    push: bool = False


# --- discovery -------------------------------------------------------------------------------


def discover(paths: Iterable[Path]) -> list[Path]:
    """Every candidate service the PATHs name: services, folders of services, path-list files."""
    found: list[Path] = []
    for path in paths:
        found += _expand(Path(path), depth=0)
    if not any(_looks_like_service(p) for p in found):
        raise InputError(
            "No service found under the given paths; give service folders or folders holding them."
        )
    return list(dict.fromkeys(found))


def _expand(path: Path, depth: int) -> list[Path]:
    path = path.expanduser().resolve()
    if path.is_file() and depth == 0:
        return _from_list(path)
    if not path.is_dir():
        raise InputError(
            f"{path} does not exist; give a service folder, a folder of services or a file of paths."
        )
    if _looks_like_service(path):
        return [path]
    # A folder of services: its direct children, hidden ones (.git, .venv) excepted. A folder
    # holding no service is itself reported, as not a service, rather than silently dropped.
    children = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    return children if any(_looks_like_service(p) for p in children) else [path]


def _from_list(listing: Path) -> list[Path]:
    """A file of paths, one a line; blank lines and # comments skipped; relative to the file."""
    found: list[Path] = []
    for line in listing.read_text().splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            found += _expand(listing.parent / entry, depth=1)
    return found


def _looks_like_service(path: Path) -> bool:
    return project.has_record(path) or (path / ".git").exists()


def _not_ready(path: Path) -> ServiceOutcome | None:
    """An outcome for a folder that cannot be worked on, or None when it is a service."""
    if not project.has_record(path):
        return ServiceOutcome(path, "not-a-service", "no .svc.yml nor copier/cruft answers file")
    if not git.is_repo(path):
        return ServiceOutcome(path, "broken", "not a git repository")
    return None


# --- status ----------------------------------------------------------------------------------


def status_one(path: Path) -> ServiceOutcome:
    """Whether every template layer of the service is on its newest version."""
    from .update import check

    early = _not_ready(path)
    if early is not None:
        return early
    try:
        statuses = check(path)
    except ScaffoldError as err:
        return ServiceOutcome(path, "broken", str(err))
    layers = tuple(LayerInfo(s.source, s.current, s.newest) for s in statuses)
    return ServiceOutcome(path, "behind" if any(s.behind for s in statuses) else "current", layers=layers)


# --- update ----------------------------------------------------------------------------------


def update_one(path: Path, scratch: Path, options: UpdateOptions) -> ServiceOutcome:
    """Update one service on a new branch, in a worktree below `scratch`; never raises."""
    early = _not_ready(path)
    if early is not None:
        return early if early.status == "not-a-service" else _failed(early)
    try:
        with repo_lock.held(path):
            return _update_locked(path, scratch, options)
    except ScaffoldError as err:
        return ServiceOutcome(path, "failed", str(err))


def _tidy_abandoned_worktrees(root: Path) -> None:
    """Undo what a fleet run that was killed left in `root`: its worktree, its svc/template move."""
    listing = git.out("worktree", "list", "--porcelain", cwd=root).splitlines()
    for line in listing:
        worktree = Path(line.removeprefix("worktree ")) if line.startswith("worktree ") else None
        if worktree is not None and worktree.name == "worktree" and leftovers.abandoned(worktree.parent):
            journal = Journal(worktree.parent)
            journal.rollback()
            journal.close()
    # One whose folder is gone (a temporary folder cleared at boot): git's note of it goes too.
    if any(line.split(" ")[0] == "prunable" for line in listing):
        git.run("worktree", "prune", cwd=root, check=False)


def _update_locked(path: Path, scratch: Path, options: UpdateOptions) -> ServiceOutcome:
    _tidy_abandoned_worktrees(path)
    journal = Journal(scratch)
    try:
        template_branch.heal_at_head(path)
        journal.begin(path)
        return _update_in_worktree(path, options, journal)
    except ScaffoldError as err:
        journal.rollback()
        return ServiceOutcome(path, "failed", str(err))
    except BaseException:
        journal.rollback()
        raise
    finally:
        journal.close()


def _target(layer: Layer, ref: str | None) -> sources.Resolved:
    """The version a service whose top layer is `layer` goes to (its manifest pins the layers
    below): `ref`, else the branch it follows, else its template's newest release."""
    source = sources.of_layer(layer)
    return sources.resolve(source, ref or sources.recorded_branch(source, layer.ref))


def pinned_templates(paths: list[Path], ref: str | None) -> sources.Resolutions:
    """Resolve, in this process and once each, the templates the services at `paths` go to,
    for every worker of the run to start from: a release made while a fleet runs reaches
    none of its services, rather than those a later worker happens to take. A service whose
    template cannot be resolved here is left to its worker, which says why."""
    with sources.remembering() as known:
        for path in paths:
            with contextlib.suppress(ScaffoldError, OSError):
                _target(project.load_provenance(path).layers[-1], ref)
    return known


def _failed(outcome: ServiceOutcome) -> ServiceOutcome:
    return ServiceOutcome(outcome.path, "failed", outcome.reason)


def _update_in_worktree(root: Path, options: UpdateOptions, journal: Journal) -> ServiceOutcome:
    from .update import UpdateRequest, update

    work = journal.worktree
    git.run("worktree", "add", "--quiet", "--detach", str(work), "HEAD", cwd=root)
    test_pause.pause("fleet-worktree")
    layer = project.load_provenance(work).layers[-1]
    target = _target(layer, options.ref)
    version = target.version or (target.commit or "")[:12] or "latest"
    info = (LayerInfo(layer.source, layer.version or layer.ref, version),)
    branch = options.branch.replace("{version}", version)
    if not git.ok("check-ref-format", "--branch", branch, cwd=root):
        return ServiceOutcome(root, "failed", f"'{branch}' is not a valid branch name", info)
    if git.rev(root, f"refs/heads/{branch}") is not None:
        if target.commit is not None and target.commit == layer.commit:
            return ServiceOutcome(root, "current", layers=info)
        return ServiceOutcome(
            root, "exists", f"branch {branch} exists already; nothing overwritten", info, branch
        )
    result = update(UpdateRequest(path=work, ref=options.ref, commit=True))
    if result.status == "current":
        return ServiceOutcome(root, "current", layers=info)
    if result.status == "conflicts":
        reason = "conflicts; update by hand with 'svc update'"
        return ServiceOutcome(root, "conflicts", reason, info, files=result.conflicts)
    assert result.committed is not None
    # Without --force git refuses an existing name, so a branch made meanwhile is not overwritten.
    git.run("branch", "--no-track", branch, result.committed, cwd=root)
    journal.note_branch(branch)
    done = ServiceOutcome(root, "updated", "", info, branch, result.committed, result.changed)
    return _push(done, branch) if options.push else done


def _push(done: ServiceOutcome, branch: str) -> ServiceOutcome:
    remotes = git.out("remote", cwd=done.path).split()
    if not remotes:
        return _with(done, "failed", f"committed on {branch}, but the repository has no remote to push to")
    remote = "origin" if "origin" in remotes else remotes[0]
    # svc/template goes along: the next clone to update finds the render there.
    refs = [f"refs/heads/{name}:refs/heads/{name}" for name in (branch, TEMPLATE_BRANCH)]
    pushed = git.run("push", "--quiet", remote, *refs, cwd=done.path, check=False)
    if pushed.returncode != 0:
        detail = pushed.stderr.decode(errors="replace").strip().splitlines()
        return _with(
            done, "failed", f"committed on {branch}, but pushing it failed: {detail[-1] if detail else ''}"
        )
    return replace(done, reason="", pushed=True)


def _with(done: ServiceOutcome, status: FleetStatus, reason: str) -> ServiceOutcome:
    return replace(done, status=status, reason=reason)


class Journal:
    """What one service's update may leave behind, written down before it is made.

    The file lets the parent tidy up after a child that died half-way: remove the worktree
    and put `svc/template` back unless the update's branch was made.
    """

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.worktree = scratch / "worktree"
        self.file = scratch / "journal.json"

    def begin(self, root: Path) -> None:
        self.scratch.mkdir(parents=True, exist_ok=True)
        leftovers.claim(self.scratch)
        state = {"root": str(root), "template": git.rev(root, f"refs/heads/{TEMPLATE_BRANCH}")}
        self._write(state)

    def note_branch(self, branch: str) -> None:
        """The update ended in its branch: svc/template rightly points at its render now."""
        self._write({**json.loads(self.file.read_text()), "branch": branch})

    def _write(self, state: dict[str, str | None]) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.file)

    def rollback(self) -> None:
        """Put svc/template back as it was: the update did not end in a branch."""
        if not self.file.is_file():
            return
        state = json.loads(self.file.read_text())
        if state.get("branch"):
            return
        root, tip = Path(state["root"]), state["template"]
        ref = f"refs/heads/{TEMPLATE_BRANCH}"
        if tip:
            git.run("update-ref", ref, tip, cwd=root, check=False)
        else:
            git.run("update-ref", "-d", ref, cwd=root, check=False)

    def close(self) -> None:
        if self.file.is_file():
            root = Path(json.loads(self.file.read_text())["root"])
            removed = git.run("worktree", "remove", "--force", str(self.worktree), cwd=root, check=False)
            shutil.rmtree(self.scratch, ignore_errors=True)
            if removed.returncode != 0:  # say, a worktree never made: forget whatever git noted of it
                git.run("worktree", "prune", cwd=root, check=False)
        shutil.rmtree(self.scratch, ignore_errors=True)


# --- the pool --------------------------------------------------------------------------------

Job = Callable[[Path, Path], ServiceOutcome]
_stop: multiprocessing.synchronize.Event | None = None


def _child_init(stop: multiprocessing.synchronize.Event, known: sources.Resolutions) -> None:
    # The parent alone handles Ctrl-C; a child finishes the service in hand, then stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _stop
    _stop = stop
    sources.remember_resolutions(known)  # the worker lives for this fleet run only


def _guarded(job: Job, path: Path, scratch: Path) -> ServiceOutcome:
    """Run `job` in a child: a stop request or an unexpected error becomes an outcome."""
    if _stop is not None and _stop.is_set():
        return _not_started(path)
    try:
        return job(path, scratch)
    except Exception as err:  # one service's bug must not hide the others' outcomes
        return ServiceOutcome(path, "failed", f"unexpected {type(err).__name__}: {err}")


def _not_started(path: Path) -> ServiceOutcome:
    return ServiceOutcome(path, "interrupted", "not started: interrupted")


def status_job(path: Path, scratch: Path) -> ServiceOutcome:
    return status_one(path)


def update_job(options: UpdateOptions) -> Job:
    """The job that updates one service; a branch pattern git refuses is refused here, before
    any service starts."""
    sample = options.branch.replace("{version}", "1.0.0")
    if not git.ok("check-ref-format", "--branch", sample, cwd=Path.cwd()):
        raise InputError(
            f"--branch {options.branch} does not make a valid git branch name; "
            "use something like svc/update-{version}."
        )
    return partial(update_one, options=options)


class FleetInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the fleet; `outcomes` says what became of every service,
    those that finished (and were pushed) included."""

    def __init__(self, outcomes: list[ServiceOutcome], terminated: bool) -> None:
        super().__init__("interrupted")
        self.outcomes = outcomes
        self.terminated = terminated


def run(
    paths: list[Path],
    job: Job,
    jobs: int | None = None,
    on_done: Callable[[ServiceOutcome], None] | None = None,
    ref: str | None = None,
) -> list[ServiceOutcome]:
    """Run `job` for every path in a pool of `jobs` processes; outcomes in the order of `paths`.
    Each service's template is resolved before any starts (at `ref`, if given): see
    pinned_templates.

    Interrupted, it raises FleetInterrupted with every service's outcome.
    """
    report = on_done or (lambda outcome: None)
    known = pinned_templates(paths, ref)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(paths)))
    done: dict[Path, ServiceOutcome] = {}
    leftovers.tidy_fleet_folders(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix="svc-fleet-") as tmp:
        leftovers.claim(Path(tmp))
        scratch = {path: Path(tmp) / str(i) for i, path in enumerate(paths)}
        try:
            broken = _pool(paths, job, workers, scratch, report, done, known)
            for path in broken:
                # Run again alone, so a crash is pinned on the service that causes it.
                _tidy(scratch[path])
                if _pool([path], job, 1, scratch, report, done, known):
                    _tidy(scratch[path])
                    done[path] = ServiceOutcome(path, "failed", "its process crashed")
                    report(done[path])
        except KeyboardInterrupt as err:
            cut = [
                done.get(path) or ServiceOutcome(path, "interrupted", "not started: interrupted")
                for path in paths
            ]
            raise FleetInterrupted(cut, isinstance(err, Terminated)) from err
    return [done[path] for path in paths]


def _pool(
    paths: list[Path],
    job: Job,
    workers: int,
    scratch: dict[Path, Path],
    report: Callable[[ServiceOutcome], None],
    done: dict[Path, ServiceOutcome],
    known: sources.Resolutions,
) -> list[Path]:
    """Run `job` for `paths`, outcomes into `done`; return the paths whose process crashed."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    broken: list[Path] = []
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_child_init, initargs=(stop, known))
    futures: dict[Future[ServiceOutcome], Path] = {}
    try:
        futures = {pool.submit(_guarded, job, path, scratch[path]): path for path in paths}
        for future in as_completed(futures):
            path = futures[future]
            try:
                done[path] = future.result()
            except BrokenProcessPool:
                broken.append(path)
                continue
            report(done[path])
    except BaseException:
        # Ctrl-C: no new service starts; those in hand finish cleanly, and are reported.
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        for future, path in futures.items():
            if path not in done and future.done() and not future.cancelled() and future.exception() is None:
                done[path] = future.result()
                report(done[path])
        raise
    pool.shutdown(wait=True)
    return broken


def _tidy(scratch: Path) -> None:
    """After a child died: its worktree goes, and svc/template is put back if it moved."""
    journal = Journal(scratch)
    journal.rollback()
    journal.close()


def summary(outcomes: list[ServiceOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts
