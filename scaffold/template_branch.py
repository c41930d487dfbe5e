"""The branch `svc/template`: where a service keeps the renders its updates merge from.

Only render commits (see `scaffold.render_record`) are ever a base. They are looked up on
the local branch and on every remote's copy of it (`origin/svc/template`, ...), never on
HEAD or any other branch: a feature branch carries the same `.svc.yml` as the render it
started from, and taking it for the base would revert its work.

Renders do reach HEAD's history, as the second parent of each update's merge. When HEAD
holds a later render than the branch (an update finished with `git commit`, here or in a
clone whose main was pulled), `heal` moves the branch forward to it, fast-forward only.
"""

from __future__ import annotations

from pathlib import Path

from . import git, provenance, render_record
from .errors import ProvenanceError

TEMPLATE_BRANCH = "svc/template"
LOCAL_REF = f"refs/heads/{TEMPLATE_BRANCH}"
# Services made before render commits had trailers: how far back their branch is searched.
_LEGACY_DEPTH = 200


def tips(root: Path) -> list[str]:
    """The local branch and every remote-tracking copy of it that exist, as ref names."""
    refs = git.out(
        "for-each-ref", "--format=%(refname)", LOCAL_REF, f"refs/remotes/*/{TEMPLATE_BRANCH}", cwd=root
    )
    return refs.split()


def find_base(root: Path, recorded: provenance.Provenance, extra_tips: tuple[str, ...] = ()) -> str | None:
    """The render commit of what `.svc.yml` records, on the branch or its remote copies."""
    where = [*tips(root), *extra_tips]
    key = render_record.digest(recorded)
    for sha, found in render_record.renders(root, *where):
        if found == key:
            return sha
    return _legacy_base(root, key, where)


def _legacy_base(root: Path, key: str, where: list[str]) -> str | None:
    """A render made before trailers existed: a commit of the branch whose `.svc.yml` is the
    recorded one (digest `key`). Such a branch holds nothing but renders, so its history is
    safe to search."""
    if not where:
        return None
    history = render_record.history(root, f"--max-count={_LEGACY_DEPTH}", *where)
    candidates = [sha for sha, trailer in history if not trailer]
    records = git.blobs(root, *(f"{sha}:{provenance.FILENAME}" for sha in candidates))
    for sha, shown in zip(candidates, records, strict=True):
        if shown is None:
            continue
        try:
            prov = provenance.parse(shown.decode(), provenance.FILENAME)
        except ProvenanceError:
            continue
        if render_record.digest(prov) == key:
            return sha
    return None


def later_render(root: Path, recorded: provenance.Provenance) -> str | None:
    """A render in HEAD's history that the local branch should move forward to, if any.

    Candidates descend from the branch's tip (all do when the branch is missing); the one
    `.svc.yml` records is preferred, else the newest that descends from every other.
    """
    tip = git.rev(root, LOCAL_REF)
    found = [(sha, key) for sha, key in render_record.renders(root, "HEAD") if sha != tip]
    if tip is not None:
        found = [(sha, key) for sha, key in found if _is_ancestor(root, tip, sha)]
    if not found:
        return None
    recorded_key = render_record.digest(recorded)
    for sha, key in found:
        if key == recorded_key:
            return sha
    newest = found[0][0]
    return newest if all(_is_ancestor(root, sha, newest) for sha, _ in found[1:]) else None


def heal(root: Path, recorded: provenance.Provenance) -> str | None:
    """Move the local branch forward to a later render in HEAD's history; return it if moved."""
    later = later_render(root, recorded)
    if later is not None:
        advance(root, later)
    return later


def advance(root: Path, render: str) -> None:
    """Point the local branch at `render`, which `later_render` found."""
    old = git.rev(root, LOCAL_REF) or "0" * 40
    git.run("update-ref", "-m", "svc: forward to a render in HEAD", LOCAL_REF, render, old, cwd=root)


def heal_at_head(root: Path) -> str | None:
    """`heal` for what HEAD records, whatever the work tree holds (fleet leaves it alone)."""
    shown = git.blob(root, f"HEAD:{provenance.FILENAME}")
    if shown is None:
        return None  # a project made by plain copier or cruft has no render to move to
    return heal(root, provenance.parse(shown.decode(), f"HEAD:{provenance.FILENAME}"))


def _is_ancestor(root: Path, older: str, newer: str) -> bool:
    return git.ok("merge-base", "--is-ancestor", older, newer, cwd=root)
