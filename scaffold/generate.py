"""`svc new`: render a template into a new service folder, all or nothing.

The service is built in a staging folder beside the target (same filesystem), made a
git repository there, and renamed into place only when everything succeeded; on any
failure or interrupt the staging folder is removed and the target is as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import answers as answer_rules
from . import git, leftovers, names, provenance, render_record, sources, test_pause
from .errors import InputError
from .render import layers as layering
from .template_branch import TEMPLATE_BRANCH


@dataclass(frozen=True)
class NewRequest:
    name: str
    template: str = sources.DEFAULT_TEMPLATE
    ref: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    interactive: bool = False
    trust: bool = False
    output_dir: Path = Path()
    make_git: bool = True
    # The folder of the template's repository that holds the template.
    directory: str | None = None


@dataclass(frozen=True)
class NewResult:
    path: Path
    layer: provenance.Layer
    answers: dict[str, Any]
    identity: git.Identity | None
    commit: str | None
    # The work tree the new repository sits in, when it was made inside one.
    enclosing_repository: Path | None = None


def new_service(request: NewRequest) -> NewResult:
    """Create `output_dir/name` from the template; raise ScaffoldError, leaving nothing."""
    name = names.validate_service_name(request.name)
    answer_rules.refuse_derived(request.data, name)
    output_dir = request.output_dir.resolve()
    target = output_dir / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target} already exists and is not empty; choose another name or --output-dir.")
    source = sources.parse(request.template).within(request.directory)
    resolved = sources.resolve(source, request.ref)
    created = _missing_parents(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    leftovers.tidy_staging(output_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.svc-", dir=output_dir))
    try:
        leftovers.claim(staging)
        tree = staging / name
        tree.mkdir()
        prov = render_layer(resolved, tree, name, request.data, request.interactive, request.trust)
        test_pause.pause("new-rendered")
        provenance.save(tree, prov)
        ident = commit = None
        if request.make_git:
            ident, commit = _init_repository(tree, prov)
        if target.exists():
            target.rmdir()
        tree.rename(target)
    except BaseException:
        for path in created:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    enclosing = _enclosing_repository(output_dir) if request.make_git else None
    return NewResult(target, prov.layers[-1], prov.answers, ident, commit, enclosing)


def _enclosing_repository(folder: Path) -> Path | None:
    done = git.run("rev-parse", "--show-toplevel", cwd=folder, check=False)
    return Path(done.stdout.decode().strip()) if done.returncode == 0 else None


def render_layer(
    resolved: sources.Resolved,
    dest: Path,
    service_name: str,
    data: dict[str, Any],
    interactive: bool,
    trust: bool,
) -> provenance.Provenance:
    """Render one template version, and every template it extends (its layers, base first),
    into the empty folder `dest`; return its provenance."""
    chain = layering.resolve_chain(resolved)
    return layering.render_chain(chain, dest, service_name, data, interactive, trust, given=tuple(data))


def _missing_parents(path: Path) -> list[Path]:
    """The outermost folder of `path` that does not exist yet (to remove on failure)."""
    missing = None
    while not path.exists():
        missing, path = path, path.parent
    return [missing] if missing else []


def _init_repository(tree: Path, prov: provenance.Provenance) -> tuple[git.Identity, str]:
    """Make `tree` a repository whose first commit is the render, on main and svc/template.

    That commit is a render commit like any other (see `scaffold.render_record`): a clone
    that lacks svc/template and renders this version again makes this very commit.
    """
    branch = git.config(tree.parent, "init.defaultBranch").get("init.defaultbranch", "main")
    git.run("init", "--quiet", "--initial-branch", branch, cwd=tree)
    commit = render_record.first_commit(tree, prov, (f"refs/heads/{branch}", f"refs/heads/{TEMPLATE_BRANCH}"))
    # A trusted hook may have run `git init` itself, with HEAD on another branch.
    head = tree / ".git" / "HEAD"
    if not head.is_file() or head.read_text(errors="replace") != f"ref: refs/heads/{branch}\n":
        git.run("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=tree)
    git.run("read-tree", commit, cwd=tree)
    return git.identity(tree), commit
