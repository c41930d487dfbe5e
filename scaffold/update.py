"""`svc update`, `svc check`, `svc diff`: bring a service to a newer template by git merge.

How it works (docs/updates.md tells users the same):

- The branch `svc/template` holds pristine renders of the template, one commit per
  version and answer set; `svc new` makes the first, which is also the service's first
  commit. The base of an update is the render that `.svc.yml` records: normally the
  merge base of HEAD and `svc/template`; when that branch is missing or does not match,
  svc renders the recorded version again.
- The target version is rendered once into a temporary folder and committed on top of
  the base without touching the work tree. Then `git merge-recursive BASE -- HEAD TARGET`
  merges it into the service, with rename detection, conflict markers and index stages,
  and MERGE_HEAD set so that `git commit` finishes the update and `git merge --abort`
  undoes it.
- Before anything changes, `.git/svc-update.json` records HEAD and the old
  `svc/template`; `svc update --abort` restores both byte for byte even after a SIGKILL.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import answers as answer_rules
from . import git, provenance, sources
from .errors import ProvenanceError, RepositoryStateError, ScaffoldError, SourceError
from .generate import TEMPLATE_BRANCH, render_layer

STATE_FILE = "svc-update.json"
_MERGE_STATE = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")

Status = Literal["current", "updated", "conflicts"]


@dataclass(frozen=True)
class UpdateRequest:
    path: Path
    ref: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    interactive: bool = False
    trust: bool = False
    dry_run: bool = False
    commit: bool = False


@dataclass(frozen=True)
class UpdateResult:
    path: Path
    status: Status
    before: provenance.Layer
    after: provenance.Layer
    changed: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    binary_conflicts: tuple[str, ...] = ()
    committed: str | None = None
    diff: str = ""


@dataclass(frozen=True)
class _Plan:
    """The two renders an update merges: the recorded base and the target, as commits."""

    base: str
    target: str
    before: provenance.Layer
    after: provenance.Layer


def update(request: UpdateRequest) -> UpdateResult:
    """Merge the newer template into the service at `request.path`."""
    root = _service_root(request.path)
    _require_ready(root)
    plan = _plan(root, request)
    if plan is None:
        layer = provenance.load(root).layers[0]
        return UpdateResult(root, "current", layer, layer)
    if request.dry_run:
        with _scratch_worktree(root) as scratch:
            changed, conflicts, binary = _merge(scratch, plan)
            diff = _staged_diff(scratch)
        return UpdateResult(root, "conflicts" if conflicts else "updated", plan.before, plan.after,
                            changed, conflicts, binary, diff=diff)
    _save_state(root, plan)
    git.run("update-ref", f"refs/heads/{TEMPLATE_BRANCH}", plan.target, cwd=root)
    changed, conflicts, binary = _merge(root, plan)
    committed = None
    if request.commit and not conflicts:
        git.run("commit", "--quiet", "--no-edit", "--no-verify", cwd=root,
                env=git.identity(root).env())
        committed = git.out("rev-parse", "HEAD", cwd=root)
        _state_path(root).unlink(missing_ok=True)
    return UpdateResult(root, "conflicts" if conflicts else "updated", plan.before, plan.after,
                        changed, conflicts, binary, committed)


def diff(path: Path, ref: str | None = None) -> UpdateResult:
    """What `svc update` would change, as a unified diff; changes nothing."""
    return update(UpdateRequest(path=path, ref=ref, dry_run=True))


def abort(path: Path) -> Path:
    """Put the service back exactly as it was before the unfinished update."""
    root = _service_root(path)
    state_path = _state_path(root)
    if not state_path.is_file():
        raise RepositoryStateError(f"There is no unfinished svc update in {root} to abort.")
    state = json.loads(state_path.read_text())
    gdir = git.git_dir(root)
    # A SIGKILLed git leaves its lock behind; the update owned it, so it is stale.
    (gdir / "index.lock").unlink(missing_ok=True)
    added = set(_tree_paths(root, state["target"])) - set(_tree_paths(root, state["head"]))
    git.run("reset", "--hard", "--quiet", state["head"], cwd=root)
    for rel in added:
        candidate = root / rel
        if (candidate.is_file() or candidate.is_symlink()) and not git.ok(
                "ls-files", "--error-unmatch", rel, cwd=root):
            candidate.unlink()
    if state.get("template"):
        git.run("update-ref", f"refs/heads/{TEMPLATE_BRANCH}", state["template"], cwd=root)
    else:
        git.run("update-ref", "-d", f"refs/heads/{TEMPLATE_BRANCH}", cwd=root)
    state_path.unlink()
    return root


# --- steps ---------------------------------------------------------------------------------

def _service_root(path: Path) -> Path:
    path = path.resolve()
    if not path.is_dir():
        raise RepositoryStateError(f"{path} is not a folder; give the path of a service.")
    if not git.is_repo(path):
        raise RepositoryStateError(
            f"{path} is not the top of a git repository; svc update merges with git, so run "
            "'git init' and commit the service first.")
    return path


def _require_ready(root: Path) -> None:
    gdir = git.git_dir(root)
    if _state_path(root).is_file() or any((gdir / name).exists() for name in _MERGE_STATE):
        raise RepositoryStateError(
            f"{root} is in the middle of a merge or an update; finish it with 'git commit' "
            "or undo it with 'svc update --abort'.")
    if git.rev(root, "HEAD") is None:
        raise RepositoryStateError(f"{root} has no commits yet; commit the service first.")
    if not git.is_clean(root):
        raise RepositoryStateError(
            f"{root} has uncommitted changes; commit or stash them (git stash -u) and run svc update again.")


def _plan(root: Path, request: UpdateRequest) -> _Plan | None:
    """Decide base and target; None when the service is already where the request points."""
    recorded = provenance.load(root)
    before = recorded.layers[0]
    source = sources.parse(before.source)
    resolved = sources.resolve(source, request.ref)
    answers = answer_rules.combine(recorded.answers, request.data)
    unchanged = not answer_rules.changed(recorded.answers, request.data)
    if unchanged and _same_version(before, resolved) and recorded.origin == provenance.FILENAME:
        return None
    base = _base_commit(root, recorded)
    target_prov, target_tree = _render_commit_tree(root, resolved, recorded.service_name, answers, request)
    if unchanged and target_tree == git.out("rev-parse", f"{base}^{{tree}}", cwd=root):
        return None
    message = f"Render {target_prov.layers[0].describe()}"
    target = git.commit_tree(root, target_tree, message, [base], _svc_identity(root))
    return _Plan(base, target, before, target_prov.layers[0])


def _same_version(layer: provenance.Layer, resolved: sources.Resolved) -> bool:
    if resolved.commit is not None:
        return resolved.commit == layer.commit
    return resolved.source.kind == "builtin" and resolved.version == layer.version


def _svc_identity(root: Path) -> git.Identity:
    ident = git.identity(root)
    return ident if ident.configured else git.Identity(git.FALLBACK_NAME, git.FALLBACK_EMAIL, False)


def _render_commit_tree(
    root: Path, resolved: sources.Resolved, name: str, answers: dict[str, Any], request: UpdateRequest,
) -> tuple[provenance.Provenance, str]:
    """Render `resolved` with `answers` and store it as a tree in the service's repository."""
    with tempfile.TemporaryDirectory(prefix="svc-render-") as tmp:
        dest = Path(tmp) / "render"
        dest.mkdir()
        prov = render_layer(resolved, dest, name, answers, request.interactive, request.trust)
        provenance.save(dest, prov)
        return prov, git.tree_of_directory(root, dest)


def _base_commit(root: Path, recorded: provenance.Provenance) -> str:
    """The commit holding the render `.svc.yml` records: found on svc/template, or rebuilt."""
    found = _recorded_render_on_branch(root, recorded)
    if found:
        return found
    layer = recorded.layers[0]
    try:
        resolved = sources.resolve(sources.parse(layer.source), layer.commit or layer.ref)
        tree = _render_commit_tree(root, resolved, recorded.service_name, recorded.answers,
                                   UpdateRequest(path=root))[1]
    except ScaffoldError as err:
        raise ProvenanceError(
            f"The base of the update cannot be found: branch {TEMPLATE_BRANCH} does not hold the "
            f"render of {layer.describe()}, and rendering it again failed ({err}); fetch the branch "
            f"(git fetch origin {TEMPLATE_BRANCH}:{TEMPLATE_BRANCH}) and try again.") from err
    return git.commit_tree(root, tree, f"Render {layer.describe()} (rebuilt)", [], _svc_identity(root))


def _recorded_render_on_branch(root: Path, recorded: provenance.Provenance) -> str | None:
    if git.rev(root, TEMPLATE_BRANCH) is None:
        return None
    candidates = git.out("log", "--format=%H", "-n", "50", TEMPLATE_BRANCH, cwd=root).split()
    merge_base = git.run("merge-base", "HEAD", TEMPLATE_BRANCH, cwd=root, check=False)
    if merge_base.returncode == 0:
        candidates.insert(0, merge_base.stdout.decode().strip())
    for commit in candidates:
        shown = git.run("show", f"{commit}:{provenance.FILENAME}", cwd=root, check=False)
        if shown.returncode != 0:
            continue
        try:
            prov = provenance.parse(shown.stdout.decode(), provenance.FILENAME)
        except ProvenanceError:
            continue
        if prov.layers == recorded.layers and prov.answers == recorded.answers:
            return commit
    return None


def _merge(workdir: Path, plan: _Plan) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Merge the target render into `workdir`; return changed, conflicted and binary paths."""
    gdir = git.git_dir(workdir)
    # MERGE_HEAD first: from here on `git merge --abort` knows there is a merge to undo.
    (gdir / "MERGE_HEAD").write_text(plan.target + "\n")
    (gdir / "MERGE_MODE").write_text("no-ff")
    (gdir / "MERGE_MSG").write_text(
        f"Update template to {plan.after.describe()}\n\nFrom {plan.before.describe()}, by svc update.\n")
    label = {f"GITHEAD_{plan.target}": f"template {plan.after.version or plan.target[:12]}"}
    done = git.run("merge-recursive", plan.base, "--", "HEAD", plan.target, cwd=workdir,
                   env=label, check=False)
    if done.returncode not in (0, 1):
        raise ScaffoldError(f"git could not merge the template: {done.stderr.decode().strip()}")
    _write_provenance(workdir, plan)
    conflicts = tuple(git.out("diff", "--name-only", "--diff-filter=U", cwd=workdir).splitlines())
    binary = tuple(p for p in conflicts if _is_binary_conflict(workdir, p))
    changed = tuple(git.out("diff", "--cached", "--name-only", "HEAD", cwd=workdir).splitlines())
    return changed, conflicts, binary


def _write_provenance(workdir: Path, plan: _Plan) -> None:
    """.svc.yml always ends as the target's: svc owns it, local edits to it do not merge."""
    blob = git.run("show", f"{plan.target}:{provenance.FILENAME}", cwd=workdir).stdout
    (workdir / provenance.FILENAME).write_bytes(blob)
    git.run("add", "--", provenance.FILENAME, cwd=workdir)


def _is_binary_conflict(workdir: Path, rel: str) -> bool:
    """Git's own test: a NUL byte in the first 8000 bytes of any side makes a file binary."""
    for line in git.out("ls-files", "--unmerged", "--", rel, cwd=workdir).splitlines():
        blob = line.split()[1]
        if b"\0" in git.run("cat-file", "blob", blob, cwd=workdir).stdout[:8000]:
            return True
    return False


def _staged_diff(workdir: Path) -> str:
    git.run("add", "--all", cwd=workdir)
    return git.run("diff", "--cached", "--binary", "HEAD", cwd=workdir).stdout.decode(errors="replace")


@contextmanager
def _scratch_worktree(root: Path) -> Iterator[Path]:
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


def _save_state(root: Path, plan: _Plan) -> None:
    state = {
        "head": git.out("rev-parse", "HEAD", cwd=root),
        "template": git.rev(root, TEMPLATE_BRANCH),
        "target": plan.target,
    }
    tmp = _state_path(root).with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(_state_path(root))


def _state_path(root: Path) -> Path:
    return git.git_dir(root) / STATE_FILE


def _tree_paths(root: Path, commit: str) -> list[str]:
    return git.out("ls-tree", "-r", "--name-only", "-z", commit, cwd=root).split("\0")


# --- check ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerStatus:
    source: str
    current: str | None
    newest: str | None
    behind: bool


def check(path: Path) -> list[LayerStatus]:
    """For each template layer of the service: its version, the newest, and whether it is behind."""
    root = path.resolve()
    recorded = provenance.load(root)
    statuses = []
    for layer in recorded.layers:
        try:
            newest = sources.newest(sources.parse(layer.source))
        except SourceError as err:
            raise SourceError(f"Cannot check {layer.source}: {err}") from err
        statuses.append(LayerStatus(layer.source, layer.version or layer.ref, newest.version,
                                    behind=not _same_version(layer, newest)
                                    and newest.source.kind != "directory"))
    return statuses
