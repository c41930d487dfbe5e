"""Helpers that build real template repositories and run git, so tests read like stories."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path


def build_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write `files` (path -> dedented text, or bytes) below `root`."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"))
    return root


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` and return its stdout; fail the test on a non-zero exit."""
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def init_repo(root: Path, files: dict[str, str | bytes] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    if files:
        build_tree(root, files)
        commit_all(root, "initial")
    return root


def tag(repo: Path, name: str) -> None:
    git(repo, "tag", name)
