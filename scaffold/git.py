"""The only module that runs git.

Every call passes an explicit working directory (nothing here calls os.chdir, so fleet
work in several processes or threads never trips over a shared cwd) and a cleaned
environment, so variables that git exports to its own hooks (GIT_DIR, GIT_INDEX_FILE,
GIT_WORK_TREE) never redirect our commands to another repository. The user's hooks
never run; SSH agents and credential helpers keep working.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import GitError

# Identity for commits svc makes on its own (template renders) when the user has none.
FALLBACK_NAME = "svc"
FALLBACK_EMAIL = "svc@localhost"

_LEAKY_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_VARS}
    # Messages are parsed in a few places (merge conflicts); keep them in English.
    env["LC_ALL"] = "C"
    env["GIT_TERMINAL_PROMPT"] = "0"
    if extra:
        env.update(extra)
    return env


def run(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git ARGS` in `cwd`; raise GitError on failure unless check is False.

    The user's hooks never run: svc's checkouts, commits and merges are its own business
    (a post-checkout hook would fire on every `svc diff`).
    """
    done = subprocess.run(
        _command(args), cwd=cwd, env=clean_env(env), capture_output=True, input=input, check=False
    )
    if check and done.returncode != 0:
        raise GitError(list(args), done.returncode, done.stderr.decode(errors="replace"))
    return done


def _command(args: tuple[str, ...]) -> list[str]:
    return ["git", "-c", f"core.hooksPath={os.devnull}", *args]


def run_in_view(*args: str, cwd: Path) -> None:
    """Run `git ARGS` with its progress and messages on the user's terminal (stderr)."""
    done = subprocess.run(_command(args), cwd=cwd, env=clean_env(), stdout=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise GitError(list(args), done.returncode, "")


def out(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run git and return its stdout as stripped text."""
    return run(*args, cwd=cwd, env=env).stdout.decode(errors="replace").strip()


def ok(*args: str, cwd: Path) -> bool:
    """True when `git ARGS` exits 0."""
    return run(*args, cwd=cwd, check=False).returncode == 0


@dataclass(frozen=True)
class Identity:
    name: str
    email: str
    configured: bool

    def env(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


def identity(cwd: Path) -> Identity:
    """The identity git would commit with here, or svc's own when none is configured."""
    settings = config(cwd, "user.name", "user.email")
    name = os.environ.get("GIT_AUTHOR_NAME") or settings.get("user.name", "")
    email = os.environ.get("GIT_AUTHOR_EMAIL") or settings.get("user.email", "")
    if name and email:
        return Identity(name, email, configured=True)
    return Identity(name or FALLBACK_NAME, email or FALLBACK_EMAIL, configured=False)


def config(cwd: Path, *keys: str) -> dict[str, str]:
    """The values git has for `keys` here (lower-case names, as git reports them), in one call."""
    pattern = "^(" + "|".join(re.escape(key.lower()) for key in keys) + ")$"
    done = run("config", "--get-regexp", pattern, cwd=cwd, check=False)
    found: dict[str, str] = {}
    for line in done.stdout.decode(errors="replace").splitlines():
        key, _, value = line.partition(" ")
        found[key] = value
    return found


def is_repo(path: Path) -> bool:
    return _evident_git_dir(path) is not None or (
        (path / ".git").exists() and ok("rev-parse", "--git-dir", cwd=path)
    )


def is_clean(repo: Path) -> bool:
    """No staged, modified or untracked (non-ignored) files."""
    return out("status", "--porcelain", "--untracked-files=normal", cwd=repo) == ""


def git_dir(repo: Path) -> Path:
    """The absolute git directory of `repo` (links resolved, as git gives it)."""
    return _evident_git_dir(repo) or Path(out("rev-parse", "--absolute-git-dir", cwd=repo))


def _evident_git_dir(repo: Path) -> Path | None:
    """The git directory of a work tree's top in the usual layouts, found without a git process
    (an update asks a dozen times): its own .git folder, or a linked worktree's .git file
    (fleet updates work in one), "gitdir: PATH"."""
    dot_git = repo / ".git"
    if (dot_git / "HEAD").is_file() and (dot_git / "objects").is_dir():
        return dot_git.resolve()
    if dot_git.is_file():
        _, found, where = dot_git.read_text(errors="replace").partition("gitdir: ")
        linked = (repo / where.strip()).resolve() if found else None
        if linked is not None and (linked / "HEAD").is_file():
            return linked
    return None


def common_dir(repo: Path) -> Path:
    """The absolute git directory `repo` shares with its other worktrees (links resolved)."""
    own = git_dir(repo)
    shared = own / "commondir"  # in a linked worktree's own git directory: the path to the main one
    return (own / shared.read_text().strip()).resolve() if shared.is_file() else own.resolve()


def rev(repo: Path, ref: str) -> str | None:
    """The commit `ref` names in `repo`, or None when it names none."""
    done = run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo, check=False)
    if done.returncode != 0:
        return None
    return done.stdout.decode().strip()


def blobs(repo: Path, *specs: str) -> list[bytes | None]:
    """The content of the file each of `specs` ("REV:PATH") names, None where it names none;
    in one git process."""
    if not specs:
        return []
    if any("\n" in spec for spec in specs):  # not a line `cat-file --batch` reads: one process each
        return [blob(repo, spec) for spec in specs]
    ask = "".join(f"{spec}\n" for spec in specs).encode()
    output = run("cat-file", "--batch=%(objecttype) %(objectsize)", cwd=repo, input=ask).stdout
    found: list[bytes | None] = []
    for _ in specs:
        header, _, output = output.partition(b"\n")
        kind, _, size = header.partition(b" ")  # else "SPEC missing" (or ambiguous)
        if not size.isdigit():
            found.append(None)
            continue
        found.append(output[: int(size)] if kind == b"blob" else None)
        output = output[int(size) + 1 :]
    return found


def blob(repo: Path, spec: str) -> bytes | None:
    """The content of the file `spec` ("REV:PATH") names, None when it names none."""
    done = run("cat-file", "blob", spec, cwd=repo, check=False)
    return done.stdout if done.returncode == 0 else None


def tree_of_directory(repo: Path, directory: Path) -> str:
    """Store the files of `directory` a commit of it holds (see `committed_files`) in `repo`'s
    object database; return the tree id.

    Uses a throw-away index so the repository's own index and work tree are untouched.
    """
    with tempfile.TemporaryDirectory(prefix="svc-index-") as tmp:
        env = _throwaway_index(git_dir(repo), directory, Path(tmp) / "index")
        listing = _unignored(directory, env)
        run("update-index", "--add", "-z", "--stdin", cwd=directory, env=env, input=listing)
        return out("write-tree", cwd=directory, env=env)


@dataclass(frozen=True)
class Packed:
    commit: str
    tree: str


def commit_packed(repo: Path, message: str, who: str, refs: Sequence[str]) -> Packed | None:
    """Store the files of `repo`'s work tree that a commit of it holds, and a commit of them
    with `message` (author and committer `who`: "Name <email> SECONDS +ZONE"), in one pack;
    point `refs` at that commit.

    A fresh repository's first commit made this way writes two files, where `git add` writes
    one per file and folder: a large part of `svc new`'s time on a slow disk. Returns None, having
    written nothing, when git would store a file as other than its bytes (a clean filter, a
    line-ending conversion, another object format): tree_of_directory applies those.
    """
    with tempfile.TemporaryDirectory(prefix="svc-index-") as tmp:
        listing = _unignored(repo, _throwaway_index(git_dir(repo), repo, Path(tmp) / "index"))
    entries = [_Entry.read(repo, rel) for rel in listing.split(b"\0") if rel]
    files = [entry for entry in entries if entry.mode != b"120000"]
    paths = b"".join(_c_quoted(entry.path) + b"\n" for entry in files)
    stored = run("hash-object", "--stdin-paths", cwd=repo, input=paths)
    if stored.stdout.decode().split() != [entry.blob_id() for entry in files]:
        return None
    stream = [b"commit %s\nmark :1\n" % refs[0].encode()]
    stream += [b"%s %s\n" % (role, who.encode()) for role in (b"author", b"committer")]
    stream += [_data(message.encode())]
    for entry in entries:
        stream += [b"M %s inline %s\n" % (entry.mode, _c_quoted(entry.path)), _data(entry.content)]
    stream += [b'ls ""\n\n']
    stream += [b"reset %s\nfrom :1\n\n" % ref.encode() for ref in refs[1:]]
    stream += [b"get-mark :1\n"]
    # Below its default limit of 100 objects fast-import writes loose objects after all; the
    # pack is made as fast as `git add` makes loose ones (no deltas, zlib's fastest level).
    # --force: `refs` move even where a trusted hook committed first, as update-ref moves them.
    fast = ("-c", "fastimport.unpackLimit=0", "-c", "pack.compression=1")
    options = ("--force", "--depth=0", "--quiet", "--date-format=raw")
    done = run(*fast, "fast-import", *options, cwd=repo, input=b"".join(stream))
    root, commit = done.stdout.decode().splitlines()
    return Packed(commit=commit, tree=root.split()[2])


@dataclass(frozen=True)
class _Entry:
    path: bytes
    mode: bytes
    content: bytes

    @classmethod
    def read(cls, repo: Path, rel: bytes) -> _Entry:
        where = repo / os.fsdecode(rel)
        status = where.lstat()
        if stat.S_ISLNK(status.st_mode):
            return cls(rel, b"120000", os.fsencode(where.readlink()))
        content = where.read_bytes()
        # As git records a file: executable when its owner may execute it.
        return cls(rel, b"100755" if status.st_mode & stat.S_IXUSR else b"100644", content)

    def blob_id(self) -> str:
        return hashlib.sha1(
            b"blob %d\0" % len(self.content) + self.content, usedforsecurity=False
        ).hexdigest()


def _data(content: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(content), content)


def _c_quoted(path: bytes) -> bytes:
    """`path` as a C-style quoted string, the form fast-import reads any path in."""
    return b'"' + path.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n") + b'"'


def committed_files(directory: Path) -> list[str]:
    """The files below `directory` that a commit of it holds: all but `.git`, nested
    repositories and what the folder's own `.gitignore` files ignore.

    The user's global and per-repository excludes never apply, so a render commits the same
    files on every machine; what a trusted hook builds in an ignored folder (a `.tox`
    virtualenv) stays out, as it would of the team's own commits.
    """
    with tempfile.TemporaryDirectory(prefix="svc-index-") as tmp:
        run("init", "--quiet", "--bare", tmp, cwd=directory)
        env = _throwaway_index(Path(tmp), directory, Path(tmp) / "index")
        return [rel for rel in _unignored(directory, env).decode(errors="surrogateescape").split("\0") if rel]


def _throwaway_index(gdir: Path, directory: Path, index: Path) -> dict[str, str]:
    return {"GIT_DIR": str(gdir), "GIT_WORK_TREE": str(directory), "GIT_INDEX_FILE": str(index)}


def _unignored(directory: Path, env: Mapping[str, str]) -> bytes:
    """NUL-separated paths below `directory` that no `.gitignore` in it ignores; a nested
    repository (listed as `sub/`) is left out."""
    listing = run(
        "ls-files", "-z", "--others", "--exclude-per-directory=.gitignore", cwd=directory, env=env
    ).stdout
    return b"".join(rel + b"\0" for rel in listing.split(b"\0") if rel and not rel.endswith(b"/"))
