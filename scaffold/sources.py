"""Template sources: turn what the user wrote (SRC and --ref) into files on disk.

A source is the built-in template (`builtin:NAME`), a local folder, or a git repository
(a local path, a bare repository, or a URL). Remote repositories are mirrored once into
the user's cache and fetched again on each use; a user's own repository is only read
(a commit's files are checked out into svc's cache, see checkouts.py), never checked out in
place or otherwise modified.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Literal, TypeVar

from . import __version__, checkouts, git
from .errors import GitError, SourceError
from .provenance import Layer, version_label

BUILTIN_PREFIX = "builtin:"
DEFAULT_TEMPLATE = "builtin:python-service"
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)

Kind = Literal["builtin", "directory", "git"]
T = TypeVar("T")


@dataclass(frozen=True)
class TemplateSource:
    """Where a template lives. `location` is what provenance records: stable across runs."""

    kind: Kind
    location: str
    remote: bool = False
    # The ref a configured name sets for when --ref is not given (not recorded anywhere).
    default_ref: str | None = None
    # The folder of the repository that holds the template (cookiecutter's --directory).
    directory: str | None = None

    def within(self, directory: str | None) -> TemplateSource:
        """This source, with its template in `directory` of it; refuse a path that leaves it."""
        if not directory:
            return self
        parts = PurePosixPath(directory).parts
        if PurePosixPath(directory).is_absolute() or ".." in parts or not parts:
            raise SourceError(
                f"--directory {directory} must be a folder inside the template's repository, "
                "written relative to its top."
            )
        if self.is_builtin:
            raise SourceError("The built-in templates take no --directory.")
        return replace(self, directory=str(PurePosixPath(*parts)))

    @property
    def is_builtin(self) -> bool:
        return self.kind == "builtin"


@dataclass(frozen=True)
class Resolved:
    """A source pinned to one version: the ref asked for or chosen, and its commit."""

    source: TemplateSource
    ref: str | None
    commit: str | None
    version: str | None


def builtin_root() -> Path:
    """Folder holding the built-in templates: inside the wheel, or the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise SourceError("The built-in templates are missing from this svc installation; reinstall svc.")


def unchanging(folder: Path) -> bool:
    """Whether `folder` is part of a template tree that never changes: a kept checkout of a
    commit (checked before every use) or the templates installed with svc."""
    return folder.is_relative_to(cache_dir("trees")) or folder.is_relative_to(builtin_root())


def builtin_names() -> list[str]:
    # Folders starting with "_" are svc's own helpers, not templates to offer.
    return sorted(p.name for p in builtin_root().iterdir() if p.is_dir() and not p.name.startswith("_"))


def parse(spec: str, cwd: Path | None = None) -> TemplateSource:
    """Classify SRC; raise SourceError when it names nothing svc can use."""
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX) :]
        if name not in builtin_names():
            known = ", ".join(BUILTIN_PREFIX + n for n in builtin_names())
            raise SourceError(f"There is no built-in template '{spec}'; built-in templates: {known}.")
        return TemplateSource("builtin", spec)
    if _URL.match(spec):
        if spec.startswith("file://"):
            path = Path(spec[len("file://") :])
            if not path.exists():
                raise SourceError(f"The template repository {spec} does not exist; check the path.")
        return TemplateSource("git", spec, remote=True)
    named = _configured(spec, cwd)
    if named is not None:
        return named
    path = (cwd or Path.cwd()) / Path(spec).expanduser()
    if not path.exists():
        if "/" not in spec and not spec.startswith("."):
            raise SourceError(
                f"There is no template named '{spec}'; run 'svc templates list' to see the "
                "configured names, or give a path or git URL."
            )
        raise SourceError(f"The template path {spec} does not exist.")
    path = path.resolve()
    if not path.is_dir():
        raise SourceError(f"The template path {spec} is a file; give the template's folder.")
    if _is_repository_root(path):
        return TemplateSource("git", str(path))
    return TemplateSource("directory", str(path))


def _configured(spec: str, cwd: Path | None) -> TemplateSource | None:
    """A bare name from configuration; it wins over a folder of that name (write ./NAME for that)."""
    if "/" in spec or spec.startswith((".", "~")):
        return None
    from . import config

    named = config.load(cwd).template(spec)
    if named is None:
        return None
    try:
        # Configured sources are absolute paths, URLs or builtin:, so this parse cannot recurse.
        return replace(parse(named.source, cwd), default_ref=named.ref)
    except SourceError as err:
        raise SourceError(f"The template '{spec}' named in {named.origin} cannot be used: {err}") from err


def _is_repository_root(path: Path) -> bool:
    """A work tree's top folder or a bare repository; a folder inside a repository is not."""
    return _remembered("repository root", path, lambda: _asked_repository_root(path))


def _asked_repository_root(path: Path) -> bool:
    done = git.run("rev-parse", "--is-bare-repository", "--absolute-git-dir", cwd=path, check=False)
    if done.returncode != 0:
        return False
    bare, git_dir = done.stdout.decode().split("\n")[:2]
    if bare.strip() == "true":
        return Path(git_dir.strip()) == path
    # A work tree's top, not a folder inside it (nor its .git folder, which has no top).
    top = git.run("rev-parse", "--show-toplevel", cwd=path, check=False)
    return top.returncode == 0 and Path(top.stdout.decode().strip()).resolve() == path


def mirror_path(url: str) -> Path:
    """Where svc keeps its mirror of the template repository at `url`."""
    return cache_dir("repos") / (hashlib.sha256(url.encode()).hexdigest()[:20] + ".git")


def cache_dir(kind: str) -> Path:
    """svc's folder in the user's cache for `kind` (template mirrors, compiled templates)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "svc" / kind


def _git_dir(source: TemplateSource, fetch: bool = True) -> Path:
    """The repository to read: the user's local repository, or our mirror of a remote one."""
    if not source.remote:
        return Path(source.location)
    return _mirror(source.location, fetch)


def _mirror(url: str, fetch: bool = True) -> Path:
    """Clone `url` into the cache once, fetch it on later uses; one process at a time.
    `fetch=False` reads a commit that resolving just fetched, without asking the remote again."""
    mirror = mirror_path(url)
    root = mirror.parent
    root.mkdir(parents=True, exist_ok=True)
    if not fetch and mirror.exists():
        return mirror
    with (root / (mirror.name + ".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if mirror.exists():
                git.run("remote", "update", "--prune", cwd=mirror)
            else:
                partial = Path(tempfile.mkdtemp(prefix=mirror.name, dir=root))
                try:
                    _clone(url, partial, root)
                    partial.rename(mirror)
                finally:
                    shutil.rmtree(partial, ignore_errors=True)
        except GitError as err:
            reason = err.reason
            raise SourceError(
                f"Cannot fetch the template repository {url} ({reason}); check the URL and your access to it."
            ) from err
    return mirror


def _clone(url: str, dest: Path, cwd: Path) -> None:
    """A partial mirror (`--filter=blob:none`): every commit, tree and tag, so refs and `git
    describe` work as in a full one, and only the files of the versions svc reads are
    fetched. A large template's first clone shows git's progress on a terminal."""
    args = ["clone", "--mirror", "--filter=blob:none", url, str(dest)]
    if sys.stderr.isatty():
        git.run_in_view(*args, "--progress", cwd=cwd)
    else:
        git.run(*args, "--quiet", cwd=cwd)


def _release_versions(repo: Path) -> list[tuple[object, str]]:
    from packaging.version import InvalidVersion, Version

    found = []
    for tag in git.out("tag", "--list", cwd=repo).splitlines():
        try:
            version = Version(tag)
        except InvalidVersion:
            continue
        if not (version.is_prerelease or version.is_devrelease):
            found.append((version, tag))
    return sorted(found, key=lambda pair: pair[0])  # type: ignore[arg-type,return-value]


def _newest_template_release(repo: Path, directory: str | None) -> str | None:
    """The newest release tag that holds a template (a repository may stop being one)."""
    # The formats' marker files come from the format table, which itself builds on this module.
    from .render.engine import template_markers

    paths = [f"{directory}/{m}" if directory else m for m in template_markers()]
    for _, tag in reversed(_release_versions(repo)):
        # Trees only (a partial mirror has them all): no file is fetched to find the template.
        if git.out("ls-tree", "--name-only", f"{tag}^{{commit}}", "--", *paths, cwd=repo):
            return tag
    return None


Resolutions = dict[tuple[str, object], object]


class _Remembered:
    """What this process resolved, while remembering; None: ask git each time."""

    answers: Resolutions | None = None


def remember_resolutions(known: Resolutions | None = None) -> None:
    """Remember, for the rest of this process, what each template source and ref resolve to,
    starting from what another process found (`known`, from `remembering`).

    For a fleet's worker process, which lives for one fleet run: every service resolves the
    same template and version, and asking git (or fetching a remote) again for each service
    costs a dozen git processes each, for an answer that must not change within the run.
    """
    _Remembered.answers = dict(known or {})


@contextlib.contextmanager
def remembering() -> Iterator[Resolutions]:
    """Remember resolutions within the block; yields them, to hand to remember_resolutions."""
    before, _Remembered.answers = _Remembered.answers, {}
    try:
        yield _Remembered.answers
    finally:
        _Remembered.answers = before


def _remembered(kind: str, key: object, ask: Callable[[], T]) -> T:
    answers = _Remembered.answers
    if answers is None:
        return ask()
    if (kind, key) not in answers:
        answers[kind, key] = ask()
    return answers[kind, key]  # type: ignore[return-value]


def resolve(source: TemplateSource, ref: str | None = None) -> Resolved:
    """Pin `source` to a commit: `ref` if given, else the configured default, else the newest
    release tag, else HEAD."""
    return _remembered("resolve", (source, ref), lambda: _resolve(source, ref))


def _resolve(source: TemplateSource, ref: str | None) -> Resolved:
    if ref is None and source.kind != "directory":
        ref = source.default_ref
    if source.is_builtin:
        if ref not in (None, __version__, f"v{__version__}"):
            raise SourceError(
                f"The built-in template is at version {__version__} (the installed svc's own); "
                f"to use version {ref}, install that version of svc."
            )
        return Resolved(source, None, None, __version__)
    if source.kind == "directory":
        if ref is not None:
            raise SourceError(f"{source.location} is not a git repository, so --ref {ref} cannot apply.")
        return Resolved(source, None, None, None)
    repo = _git_dir(source)
    if ref is None:
        ref = _newest_template_release(repo, source.directory) or "HEAD"
    commit = git.rev(repo, ref)
    if commit is None:
        raise SourceError(
            f"The template repository {source.location} has no tag, branch or commit '{ref}'; "
            "list its tags with 'git ls-remote --tags'."
        )
    return Resolved(source, ref, commit, _version_of(repo, ref, commit))


def described(resolved: Resolved) -> str | None:
    """What `git describe --tags --always` says of the resolved commit: what copier records
    as `_commit`. Asked for only when a render needs it."""
    if resolved.source.kind != "git" or resolved.commit is None:
        return None
    repo, commit = _git_dir(resolved.source, fetch=False), resolved.commit
    return _remembered("describe", (repo, commit), lambda: _describe(repo, commit))


def _describe(repo: Path, commit: str) -> str:
    done = git.run("describe", "--tags", "--always", commit, cwd=repo, check=False)
    return done.stdout.decode().strip()


def of_layer(layer: Layer) -> TemplateSource:
    """The source a recorded layer was rendered from, its --directory included."""
    return parse(layer.source).within(layer.directory)


def recorded_branch(source: TemplateSource, ref: str | None) -> str | None:
    """`ref` when it names a branch (not a tag) of the template's repository: a service that
    follows a branch moves with its tip, not to the newest release."""
    if source.kind != "git" or not ref or ref == "HEAD":
        return None
    return _remembered("branch", (source, ref), lambda: _branch_not_tag(_git_dir(source, fetch=False), ref))


def _branch_not_tag(repo: Path, ref: str) -> str | None:
    tag, branch = f"refs/tags/{ref}", f"refs/heads/{ref}"
    # for-each-ref matches whole path components below a pattern too: only exact names count.
    found = git.out("for-each-ref", "--format=%(refname)", tag, branch, cwd=repo).splitlines()
    return ref if branch in found and tag not in found else None


def _version_of(repo: Path, ref: str, commit: str) -> str:
    """A readable version: the release tag at that commit, else `git describe`, else the sha."""
    from packaging.version import InvalidVersion, Version

    for tag in [ref, *git.out("tag", "--points-at", commit, cwd=repo).splitlines()]:
        with contextlib.suppress(InvalidVersion):
            Version(tag)
            return version_label(tag)
    return _describe(repo, commit) or commit[:12]


def newest(source: TemplateSource) -> Resolved:
    """The newest release, whatever default ref a configured name sets."""
    return resolve(replace(source, default_ref=None), None)


def read_text(resolved: Resolved, rel: str) -> str | None:
    """One file of the template at the resolved version, or None when it has none; cheaper
    than `materialize` for a git repository (no archive of the whole tree)."""
    source = resolved.source
    if source.directory:
        rel = f"{source.directory}/{rel}"
    if source.kind == "git":
        assert resolved.commit is not None
        shown = git.blob(_git_dir(source, fetch=False), f"{resolved.commit}:{rel}")
        return None if shown is None else shown.decode()
    root = (
        builtin_root() / source.location[len(BUILTIN_PREFIX) :]
        if source.is_builtin
        else Path(source.location)
    )
    path = root / rel
    if path.is_symlink() and not path.resolve().is_relative_to(root.resolve()):
        raise _link_out(source.location, rel)
    return path.read_text() if path.is_file() else None


@contextlib.contextmanager
def materialize(resolved: Resolved) -> Iterator[Path]:
    """Yield a folder holding the template's files at the resolved version.

    Nothing outside the template is ever read: a folder or committed tree holding a link
    that leads out of the template is refused before any file of it is read.
    """
    source = resolved.source
    if source.is_builtin:
        yield builtin_root() / source.location[len(BUILTIN_PREFIX) :]
        return
    if source.kind == "directory":
        folder = Path(source.location)
        refuse_links_out(folder)
        if not (folder / ".git").exists():
            yield _subfolder(folder, source, folder)
            return
        with tempfile.TemporaryDirectory(prefix="svc-template-") as tmp:
            yield _subfolder(_copy_work_tree(folder, Path(tmp)), source, folder)
        return
    assert resolved.commit is not None
    where = f"{source.location} at {resolved.ref or resolved.commit}"
    # resolve() fetched the commit, or it is a recorded one (older): no need to ask a remote again.
    repo = _git_dir(source, fetch=False)
    with checkouts.checked_out(
        repo, resolved.commit, cache_dir("trees"), lambda tree: refuse_links_out(tree, where)
    ) as files:
        yield _subfolder(files, source, where)


def _subfolder(files: Path, source: TemplateSource, where: object) -> Path:
    """The template's own folder among `files`: the repository's top, or its --directory."""
    if not source.directory:
        return files
    folder = files / source.directory
    if not folder.is_dir():
        raise SourceError(f"{where} has no folder {source.directory}; check --directory.")
    return folder


def refuse_links_out(folder: Path, where: str | None = None) -> None:
    """Refuse a template folder holding a link (to a file or a folder) that leads outside it;
    `where` names the template when `folder` is svc's temporary copy of it."""
    for rel in escaping_links(folder):
        raise _link_out(where or str(folder), rel)


def _link_out(where: str, rel: object) -> SourceError:
    return SourceError(
        f"The template {where} holds {rel}, a link that points outside the template; "
        "svc refuses to read such templates."
    )


def escaping_links(folder: Path) -> Iterator[Path]:
    """Every symbolic link below `folder` (not in .git) that leads outside it, relative to it."""
    root = folder.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                yield path.relative_to(root)


def _copy_work_tree(repo: Path, dest: Path) -> Path:
    """A repository's work tree as it is, edits included (`svc template test .`): the files git
    would commit, without .git, so copier renders them instead of the newest tag."""
    listing = git.run("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=repo).stdout
    for rel in listing.decode(errors="surrogateescape").split("\0"):
        src = repo / rel
        if rel and (src.is_file() or src.is_symlink()):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel, follow_symlinks=False)
    return dest
