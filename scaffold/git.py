"""The only module that runs git.

Every call passes an explicit working directory (nothing here calls os.chdir, so fleet
work in several processes or threads never trips over a shared cwd) and a cleaned
environment, so variables that git exports to its own hooks (GIT_DIR, GIT_INDEX_FILE,
GIT_WORK_TREE) never redirect our commands to another repository. The user's hooks
never run; SSH agents and credential helpers keep working.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
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
    return (path / ".git").exists() and ok("rev-parse", "--git-dir", cwd=path)


def is_clean(repo: Path) -> bool:
    """No staged, modified or untracked (non-ignored) files."""
    return out("status", "--porcelain", "--untracked-files=normal", cwd=repo) == ""


def git_dir(repo: Path) -> Path:
    """The absolute git directory of `repo` (links resolved, as git gives it)."""
    # The usual case, a work tree's top with its own .git folder, without a git process: an
    # update asks this a dozen times.
    dot_git = repo / ".git"
    if (dot_git / "HEAD").is_file() and (dot_git / "objects").is_dir():
        return dot_git.resolve()
    if dot_git.is_file():  # a linked worktree's (fleet updates work in one): "gitdir: PATH"
        _, found, where = dot_git.read_text(errors="replace").partition("gitdir: ")
        linked = (repo / where.strip()).resolve() if found else None
        if linked is not None and (linked / "HEAD").is_file():
            return linked
    return Path(out("rev-parse", "--absolute-git-dir", cwd=repo))


def rev(repo: Path, ref: str) -> str | None:
    """The commit `ref` names in `repo`, or None when it names none."""
    done = run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=repo, check=False)
    if done.returncode != 0:
        return None
    return done.stdout.decode().strip()


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
