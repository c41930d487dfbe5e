"""Render commits: the commits svc makes of a pristine template render, and how it knows them.

A render commit's tree is exactly what the templates rendered, `.svc.yml` included. Its
message ends with the trailer `Svc-Render: <digest>`, where the digest is a SHA-256 over a
canonical record of that `.svc.yml` (docs/updates.md spells it out):

    {"record": 1,
     "layers": [{"source": ..., "format": ..., "version": <commit, else built-in version>}, ...],
     "answers": {...}}

serialised as JSON with sorted keys and no spaces, every scalar answer as text (`true` and
`false` for booleans), so `-d port=9000` and a recorded `port: 9000` digest alike. Fields a
later svc adds to `.svc.yml` stay out of the record unless `RECORD_VERSION` goes up.

The commit's author, committer and dates derive from the digest alone, so the same render
on the same parent makes the same commit in every clone, and pushing `svc/template` from
any of them never conflicts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import git
from .provenance import Layer, Provenance

RECORD_VERSION = 1
TRAILER = "Svc-Render"
AUTHOR = git.Identity(git.FALLBACK_NAME, git.FALLBACK_EMAIL, configured=False)
# 2020-01-01T00:00:00Z; the digest adds up to ~194 days so that renders do not all share one date.
_EPOCH = 1_577_836_800


def record(prov: Provenance) -> dict[str, Any]:
    """The fields of `.svc.yml` that decide what a render holds, in canonical form."""
    return {
        "record": RECORD_VERSION,
        "layers": [layer_identity(layer) for layer in prov.layers],
        "answers": _canonical(prov.answers),
    }


def layer_identity(layer: Layer) -> dict[str, str]:
    """What makes two recorded layers the same template version: how svc compares layers.
    (`directory` joined record 1 later: absent when unset, so earlier digests still hold.)"""
    identity = {
        "source": layer.source,
        "format": layer.format,
        "version": layer.commit or layer.version or "",
    }
    return {**identity, "directory": layer.directory} if layer.directory else identity


def digest(prov: Provenance) -> str:
    text = json.dumps(record(prov), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    """Answers as text all the way down: YAML's 9000 and the command line's "9000" are one answer."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_canonical(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def commit(repo: Path, tree: str, prov: Provenance, parents: Sequence[str]) -> str:
    """Make the render commit of `tree` (rendered as `prov` records) in `repo`; no ref moves."""
    key = digest(prov)
    args = ["commit-tree", "--no-gpg-sign", tree, "-F", "-"]
    for parent in parents:
        args += ["-p", parent]
    return (
        git.run(*args, cwd=repo, env=commit_env(key), input=_message(prov, key).encode())
        .stdout.decode()
        .strip()
    )


def first_commit(repo: Path, prov: Provenance, refs: Sequence[str]) -> str:
    """Make the render commit of the files of `repo`, a fresh repository, and point `refs` at it.

    The files go into one pack when git stores them as they are; the commit is the one
    `commit` makes of their tree all the same, so every clone knows it for this render.
    """
    key = digest(prov)
    packed = git.commit_packed(repo, _message(prov, key), f"{AUTHOR} {_seconds(key)} +0000", refs)
    made = commit(repo, packed.tree if packed else git.tree_of_directory(repo, repo), prov, [])
    if packed is None or packed.commit != made:  # say, an `encoding` header commit-tree adds
        for ref in refs:
            git.run("update-ref", ref, made, cwd=repo)
    return made


def commit_env(key: str) -> dict[str, str]:
    """Author, committer and dates of the render commit with digest `key`."""
    date = f"@{_seconds(key)} +0000"
    return {**AUTHOR.env(), "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}


def _seconds(key: str) -> int:
    return _EPOCH + int(key[:6], 16)


def _message(prov: Provenance, key: str) -> str:
    layers = "".join(f"  {layer.describe()} ({layer.format})\n" for layer in prov.layers)
    title = f"Render {prov.layers[-1].describe()}"
    return f"{title}\n\nA pristine template render, made by svc, of:\n{layers}\n{TRAILER}: {key}\n"


def renders(repo: Path, *tips: str) -> list[tuple[str, str]]:
    """(commit, digest) of every render commit reachable from `tips`, descendants first."""
    if not tips:
        return []
    grep = ("--fixed-strings", f"--grep={TRAILER}: ")
    return [(sha, key) for sha, key in history(repo, "--topo-order", *grep, *tips) if key]


def history(repo: Path, *args: str) -> list[tuple[str, str | None]]:
    """(commit, its render digest or None) for each commit `git log ARGS` lists."""
    trailer = f"%(trailers:key={TRAILER},valueonly,separator=%x20)"
    listing = git.out("log", f"--format=%H {trailer}", *args, "--", cwd=repo)
    found: list[tuple[str, str | None]] = []
    for line in listing.splitlines():
        sha, _, keys = line.partition(" ")
        found.append((sha, keys.split()[-1] if keys.split() else None))
    return found
