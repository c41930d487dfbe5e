"""`svc update`, `svc check`, `svc diff`: bring a service to a newer template by git merge.

How it works (docs/updates.md tells users the same):

- The branch `svc/template` holds pristine renders of the template, one commit per
  version and answer set; `svc new` makes the first, which is also the service's first
  commit. The base of an update is the render that `.svc.yml` records: normally the
  merge base of HEAD and `svc/template` (or the template parent of an earlier update's
  merge); when none matches, svc renders the recorded version again.
- The target version is rendered once into a temporary folder and committed on top of
  the base without touching the work tree. `scaffold.merge` then merges it into the
  service as an unfinished git merge, which `git commit` finishes and `svc update
  --abort` (or `git merge --abort`) undoes.
- Projects made by plain copier or cruft are read from their answers files; the first
  update adds `.svc.yml` and keeps `.copier-answers.yml` / `.cruft.json` current.
- A copier template's `_migrations` run after the merge, only with `--trust`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from . import answers as answer_rules
from . import (
    git,
    leftovers,
    merge,
    migrations,
    project,
    provenance,
    render_record,
    repo_lock,
    sources,
    template_branch,
)
from .errors import ProvenanceError, RepositoryStateError, ScaffoldError, SourceError, UnsafeTemplateError
from .render import engine_named
from .render import layers as layering
from .template_branch import TEMPLATE_BRANCH

UpdateStatus = Literal["current", "updated", "conflicts"]


@dataclass(frozen=True)
class UpdateRequest:
    path: Path
    ref: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    interactive: bool = False
    trust: bool = False
    dry_run: bool = False
    commit: bool = False
    # A project made by plain copier whose answers file is not at the default path.
    answers_file: str | None = None


@dataclass(frozen=True)
class UpdateResult:
    path: Path
    status: UpdateStatus
    before: provenance.Layer
    after: provenance.Layer
    changed: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    binary_conflicts: tuple[str, ...] = ()
    # Each file touched, with its git status letter (A, M, D, R with the old path, U).
    files: tuple[merge.FileChange, ...] = ()
    committed: str | None = None
    diff: str = ""
    # Migrations run (or, on a dry run, that would run), as readable commands.
    migrations: tuple[str, ...] = ()
    # Layers below the top that move, as "SOURCE: OLD -> NEW" (a layered template's base).
    moved_layers: tuple[str, ...] = ()

    @property
    def downgrade(self) -> bool:
        """The top layer moves to an older release (an explicit --ref)."""
        from packaging.version import InvalidVersion, Version

        try:
            return Version(self.after.version or "") < Version(self.before.version or "")
        except InvalidVersion:
            return False


def update(request: UpdateRequest) -> UpdateResult:
    """Merge the newer template into the service at `request.path`."""
    root = _service_root(request.path, request.answers_file)
    if request.dry_run:
        return _update(root, request)
    with repo_lock.held(root):
        return _update(root, request)


def _update(root: Path, request: UpdateRequest) -> UpdateResult:
    leftovers.tidy_indexes(git.git_dir(root))
    if not request.dry_run:
        merge.settle(root)
        _require_ready(root)
    elif git.rev(root, "HEAD") is None:
        raise RepositoryStateError(f"{root} has no commits yet; commit the service first.")
    recorded = project.load_provenance(root, request.answers_file)
    later = template_branch.later_render(root, recorded)
    plan = _plan(root, recorded, request, later)
    if plan is None:
        if later is not None and not request.dry_run:
            template_branch.advance(root, later)
        layer = recorded.layers[-1]
        return UpdateResult(root, "current", layer, layer)
    steps = _migrations(plan, recorded)
    shown = tuple(m.describe() for m in steps)
    if request.dry_run:
        with merge.scratch_worktree(root) as scratch:
            found = merge.merge(scratch, plan)
            diff = merge.staged_diff(scratch)
        return _result(root, plan, found, diff=diff, migrations=shown)
    if steps and not request.trust:
        migrations.refuse_untrusted(steps)
    merge.refuse_overwriting_ignored(root, plan)
    found, committed = _apply(root, plan, steps, request.commit, later)
    return _result(root, plan, found, committed=committed, migrations=shown)


def _apply(
    root: Path, plan: merge.Plan, steps: list[migrations.Migration], commit: bool, later: str | None
) -> tuple[merge.MergeOutcome, str | None]:
    """Merge (and migrate) in the service itself; on any failure, put everything back.

    svc/template moves forward to `later` only now that the update goes ahead, and after
    the state is saved: a refused update changes no ref, and --abort puts this one back too.
    """
    merge.save_state(root, plan)
    try:
        if later is not None:
            template_branch.advance(root, later)
        found = merge.merge(root, plan)
        if steps:
            with merge.migrating(root):
                migrations.run(root, steps)
            merge.stage_all_but_conflicts(root, found.conflicts)
            merge.set_phase(root, "merged")
            found = merge.outcome(root)
        if not (commit and not found.conflicts):
            return found, None
        git.run("commit", "--quiet", "--no-edit", "--no-verify", cwd=root, env=git.identity(root).env())
    except BaseException:
        # Ctrl-C included: the contract promises nothing half-done.
        state = merge.load_state(root)
        if state is not None:
            merge.restore(root, state)
        raise
    merge.finish(root, plan.target)
    return found, git.out("rev-parse", "HEAD", cwd=root)


def _result(root: Path, plan: merge.Plan, found: merge.MergeOutcome, **extra: Any) -> UpdateResult:
    status: UpdateStatus = "conflicts" if found.conflicts else "updated"
    return UpdateResult(
        root,
        status,
        plan.before,
        plan.after,
        found.changed,
        found.conflicts,
        found.binary_conflicts,
        found.files,
        **extra,
        moved_layers=tuple(plan.moves()),
    )


def diff(request: UpdateRequest) -> UpdateResult:
    """What `svc update` would change, as a unified diff; changes nothing."""
    return update(replace(request, dry_run=True, commit=False))


def abort(path: Path) -> Path:
    """Put the service back exactly as it was before the unfinished update."""
    root = _service_root(path)
    with repo_lock.held(root):
        return _abort(root)


def _abort(root: Path) -> Path:
    state = merge.load_state(root)
    if state is None:
        raise RepositoryStateError(f"There is no unfinished svc update in {root} to abort.")
    merged = (git.git_dir(root) / "MERGE_HEAD").exists()
    if not merged and git.out("rev-parse", "HEAD", cwd=root) != state["head"]:
        # `git commit` finished the update since: that is history now, not ours to rewrite.
        merge.settle(root)
        raise RepositoryStateError(
            f"The update of {root} was already committed; undo it with 'git revert -m 1 "
            "HEAD' (or 'git reset --hard HEAD^' if it is not pushed)."
        )
    merge.restore(root, state)
    return root


# --- steps ---------------------------------------------------------------------------------


def _service_root(path: Path, answers_file: str | None = None) -> Path:
    path = path.resolve()
    if not path.is_dir():
        raise RepositoryStateError(f"{path} is not a folder; give the path of a service.")
    if not project.has_record(path, answers_file):
        raise RepositoryStateError(
            f"{path} is not a service: it has no {provenance.FILENAME} (nor a copier or cruft answers "
            "file); run svc in a service's folder or give its path."
        )
    if not git.is_repo(path):
        raise RepositoryStateError(
            f"{path} is not the top of a git repository; svc update merges with git, so run "
            "'git init' and commit the service first."
        )
    return path


# What git is in the middle of, by the file it keeps in .git: (what, the git command that ends it).
_UNDER_WAY = {
    "rebase-merge": ("a rebase", "rebase"),
    "rebase-apply": ("a rebase", "rebase"),
    "CHERRY_PICK_HEAD": ("a cherry-pick", "cherry-pick"),
    "REVERT_HEAD": ("a revert", "revert"),
}


def _require_ready(root: Path) -> None:
    gdir = git.git_dir(root)
    if merge.state_path(root).is_file():
        raise RepositoryStateError(
            f"{root} is in the middle of an svc update; finish it with 'git commit' or undo it "
            "with 'svc update --abort'."
        )
    if (gdir / "MERGE_HEAD").exists():
        raise RepositoryStateError(
            f"{root} is in the middle of a merge; finish it with 'git commit' or undo it with "
            "'git merge --abort', then run svc update again."
        )
    for marker, (what, command) in _UNDER_WAY.items():
        if (gdir / marker).exists():
            raise RepositoryStateError(
                f"{root} is in the middle of {what}; finish it with 'git {command} --continue' or undo "
                f"it with 'git {command} --abort', then run svc update again."
            )
    if git.rev(root, "HEAD") is None:
        raise RepositoryStateError(f"{root} has no commits yet; commit the service first.")
    if not git.is_clean(root):
        raise RepositoryStateError(
            f"{root} has uncommitted changes; commit or stash them (git stash -u) and run svc update again."
        )


def _plan(
    root: Path, recorded: provenance.Provenance, request: UpdateRequest, later: str | None
) -> merge.Plan | None:
    """Decide base and target; None when the service is already where the request points.

    The top layer's source and --ref pick the target; its manifest pins the layers below.
    `later` is a render in HEAD's history that svc/template is behind.
    """
    before = recorded.layers[-1]
    source = sources.of_layer(before)
    ref = request.ref or sources.recorded_branch(source, before.ref)
    chain = layering.resolve_chain(sources.resolve(source, ref))
    answer_rules.refuse_derived(request.data, recorded.service_name)
    answers = answer_rules.combine(recorded.answers, request.data)
    unchanged = not answer_rules.changed(recorded.answers, request.data)
    if unchanged and _same_chain(recorded.layers, chain):
        return None
    base = _base_commit(root, recorded, request, later)
    target_prov, target_tree = _render_tree(root, chain, answers, request, recorded, again=False)
    if unchanged and target_tree == git.out("rev-parse", f"{base}^{{tree}}", cwd=root):
        return None
    target = render_record.commit(root, target_tree, target_prov, [base])
    after = target_prov.layers[-1]
    return merge.Plan(base, target, before, after, target_prov.answers, recorded.layers, target_prov.layers)


def _same_chain(recorded: tuple[provenance.Layer, ...], chain: list[sources.Resolved]) -> bool:
    """Every layer is the same template at the same version. The top layer was parsed from
    its recorded source, which may be written differently (a copier answers file's path)."""
    last = len(chain) - 1
    return len(recorded) == len(chain) and all(
        (i == last or layer.source == resolved.source.location) and _same_version(layer, resolved)
        for i, (layer, resolved) in enumerate(zip(recorded, chain, strict=True))
    )


def _same_version(layer: provenance.Layer, resolved: sources.Resolved) -> bool:
    if resolved.commit is not None:
        return resolved.commit == (layer.commit or _commit_of(layer))
    return resolved.source.kind == "builtin" and resolved.version == layer.version


def _commit_of(layer: provenance.Layer) -> str | None:
    """The commit a copier answers file's `_commit` (a tag or `git describe`) names."""
    if not layer.ref:
        return None
    try:
        return sources.resolve(sources.of_layer(layer), layer.ref).commit
    except SourceError:
        return None


def _migrations(plan: merge.Plan, recorded: provenance.Provenance) -> list[migrations.Migration]:
    """Each layer's migrations from its old version to its new one, base first, as its
    format's engine reads them."""
    old = {layer.source: layer for layer in plan.before_layers or (plan.before,)}
    found: list[migrations.Migration] = []
    for after in plan.after_layers or (plan.after,):
        before = old.get(after.source)
        if after.commit is None or before is None:
            continue
        resolved = sources.Resolved(sources.of_layer(after), after.ref, after.commit, after.version)
        with sources.materialize(resolved) as template_dir:
            found += engine_named(after.format).migrations(template_dir, before, after, plan.answers)
    return found


def _render_tree(
    root: Path,
    chain: list[sources.Resolved],
    answers: dict[str, Any],
    request: UpdateRequest,
    recorded: provenance.Provenance,
    again: bool,
) -> tuple[provenance.Provenance, str]:
    """Render `chain` (base first) with `answers`; store it as a tree in the service's repository.

    The tree's `.svc.yml` is what the render made, with the keys a newer svc recorded kept;
    rendering the recorded version `again`, it is the recorded file itself.
    """
    with tempfile.TemporaryDirectory(prefix="svc-render-") as tmp:
        dest = Path(tmp) / "render"
        dest.mkdir()
        given = () if again else tuple(request.data)
        where = recorded.layers[-1].answers_file
        made = layering.render_chain(
            chain, dest, recorded.service_name, answers, request.interactive, request.trust, given, where
        )
        prov = recorded if again else provenance.carry_unknown(made, recorded)
        provenance.save(dest, prov)
        return prov, git.tree_of_directory(root, dest)


def _base_commit(
    root: Path, recorded: provenance.Provenance, request: UpdateRequest, later: str | None
) -> str:
    """The render commit `.svc.yml` records: found on svc/template (or at `later`, where the
    branch is about to move), else rendered again."""
    found = template_branch.find_base(root, recorded, (later,) if later else ())
    if found:
        return found
    layer = recorded.layers[-1]
    # Recorded answers decide the base; -d and prompts only fill what was never recorded (secrets).
    missing = {k: v for k, v in request.data.items() if k not in recorded.answers}
    try:
        chain = [_recorded_version(recorded_layer) for recorded_layer in recorded.layers]
        answers = answer_rules.combine(missing, recorded.answers)
        tree = _render_tree(root, chain, answers, request, recorded, again=True)[1]
    except UnsafeTemplateError as err:
        # The mend is --trust, not a branch to fetch.
        reason = str(err)
        raise UnsafeTemplateError(
            f"svc renders {layer.describe()} again to find the base of the update, and "
            f"{reason[:1].lower()}{reason[1:]}"
        ) from err
    except ScaffoldError as err:
        if recorded.origin != provenance.FILENAME:  # taken over from copier or cruft: no branch to fetch
            raise ProvenanceError(
                f"The base of the update, {layer.describe()} as {recorded.origin} records it, cannot be "
                f"rendered again: {str(err).rstrip('.')}."
            ) from err
        raise ProvenanceError(
            f"The base of the update cannot be found: no {TEMPLATE_BRANCH} branch here (local or "
            f"remote-tracking) holds the render of {layer.describe()}, and rendering it again failed "
            f"({str(err).rstrip('.')}); fetch the branch (git fetch origin "
            f"{TEMPLATE_BRANCH}:{TEMPLATE_BRANCH}) and try again."
        ) from err
    return render_record.commit(root, tree, recorded, [])


def _recorded_version(layer: provenance.Layer) -> sources.Resolved:
    """The template exactly as recorded: its commit, labelled with the recorded ref, so the
    render (copier's answers file included) is byte for byte what the service was made from."""
    source = sources.of_layer(layer)
    if source.kind != "git":
        return sources.resolve(source, layer.version if source.is_builtin else None)
    pinned = sources.resolve(source, layer.commit or layer.ref)
    if layer.commit and layer.ref and _commit_of(layer) != layer.commit:
        # The tag moved since; render the recorded commit under its own name.
        return replace(pinned, ref=pinned.commit)
    return replace(pinned, ref=layer.ref or pinned.ref, version=layer.version or pinned.version)


# --- check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerStatus:
    source: str
    current: str | None
    newest: str | None
    behind: bool


def check(path: Path) -> list[LayerStatus]:
    """For each template layer of the service (base first): its version, the newest, and
    whether it is behind. The top layer's newest is its newest release; a layer below it is
    behind when the newest top layer pins (through the layers between) a newer version of it."""
    root = path.resolve()
    recorded = project.load_provenance(root)
    top = recorded.layers[-1]
    source = sources.of_layer(top)
    branch = sources.recorded_branch(source, top.ref)
    try:
        chain = layering.resolve_chain(sources.resolve(source, branch) if branch else sources.newest(source))
    except SourceError as err:
        raise SourceError(f"Cannot check {top.source}: {err}") from err
    target = {resolved.source.location: resolved for resolved in chain}
    statuses = []
    for layer in recorded.layers:
        newest = target.get(layer.source)
        current = layer.version or _version_label(layer)
        if newest is None:
            # The newest top layer no longer extends this template: updating drops it.
            statuses.append(LayerStatus(layer.source, current, None, behind=True))
            continue
        behind = not _same_version(layer, newest) and newest.source.kind != "directory"
        statuses.append(LayerStatus(layer.source, current, newest.version, behind=behind))
    return statuses


def in_progress(path: Path) -> bool:
    """An update is staged (or merging) but not yet committed or aborted."""
    root = path.resolve()
    return git.is_repo(root) and merge.in_progress(root)


def _version_label(layer: provenance.Layer) -> str | None:
    return layer.ref or (layer.commit[:12] if layer.commit else None)
