"""A template commit's files are checked out once and kept in the user's cache; a kept tree is
used only as it was made, refused trees are never kept, and the cache stays bounded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import build_tree, commit_all, init_repo, tag
from update_support import svc

from scaffold import checkouts, sources

TEMPLATE = {
    "copier.yml": "service_name: {type: str}\n",
    "README.md.jinja": "# {{ service_name }}\n",
    "src/{{ service_name }}.py": "VALUE = 1\n",
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "svc" / "trees"


@pytest.fixture
def template(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "template", TEMPLATE)
    tag(repo, "v1.0.0")
    return repo


def new(template: Path, out: Path, name: str = "billing") -> Path:
    result = svc("new", name, "--template", str(template), "--output-dir", str(out), "--defaults", "--no-git")
    assert result.exit_code == 0, result.output
    return out / name


def kept_trees(cache: Path) -> list[Path]:
    return [tree for tree in cache.iterdir() if not tree.name.startswith(".")]


def test_a_commit_is_checked_out_once_for_every_render(tmp_path: Path, template: Path, cache: Path) -> None:
    first = new(template, tmp_path / "a")
    [tree] = kept_trees(cache)
    listing = (tree / "listing.json").read_text()
    second = new(template, tmp_path / "b", "billing")

    assert kept_trees(cache) == [tree]
    assert (tree / "listing.json").read_text() == listing
    assert (first / "README.md").read_text() == (second / "README.md").read_text() == "# billing\n"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda files: (files / "README.md.jinja").write_text("# tampered\n"),
        lambda files: (files / "extra.txt").write_text("planted\n"),
        lambda files: (files / "src" / "{{ service_name }}.py").unlink(),
    ],
    ids=["edited", "added", "removed"],
)
def test_a_kept_tree_that_changed_is_checked_out_again(
    tmp_path: Path, template: Path, cache: Path, tamper: object
) -> None:
    new(template, tmp_path / "a")
    [tree] = kept_trees(cache)
    tamper(tree / "files")  # type: ignore[operator]

    made = new(template, tmp_path / "b")

    assert (made / "README.md").read_text() == "# billing\n"
    assert not (made / "extra.txt").exists()
    assert (made / "src" / "billing.py").read_text() == "VALUE = 1\n"


def test_a_tree_with_a_link_out_is_refused_every_time_and_never_kept(tmp_path: Path, cache: Path) -> None:
    repo = init_repo(tmp_path / "template", TEMPLATE)
    (tmp_path / "secret.txt").write_text("secret\n")
    os.symlink(tmp_path / "secret.txt", repo / "leak")
    commit_all(repo, "a link out")

    for attempt in ("first", "second"):
        result = svc("new", "billing", "--template", str(repo), "--output-dir", str(tmp_path / attempt))
        assert result.exit_code == 2, result.output
        assert "points outside the template" in result.output
    assert not cache.exists() or kept_trees(cache) == []


def test_the_least_recently_used_trees_go_beyond_the_limit(
    tmp_path: Path, template: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkouts, "MAX_TREES", 2)
    commits = []
    for version in range(3):
        build_tree(template, {"VERSION": f"{version}\n"})
        commits.append(commit_all(template, f"v{version}"))
    oldest, used_again, newest = commits
    for commit in (oldest, used_again, newest, used_again):
        resolved = sources.resolve(sources.parse(str(template)), commit)
        with sources.materialize(resolved) as files:
            assert (files / "VERSION").exists()

    assert sorted(tree.name for tree in kept_trees(cache)) == sorted([used_again, newest])


def test_two_renders_at_once_share_one_checkout(tmp_path: Path, template: Path, cache: Path) -> None:
    """Fleet jobs render the same template commit side by side; both finish, one tree is kept."""
    command = [sys.executable, "-m", "scaffold", "new", "--template", str(template), "--defaults", "--no-git"]
    runs = [
        subprocess.Popen([*command, name, "--output-dir", str(tmp_path / name)], stderr=subprocess.PIPE)
        for name in ("billing", "ledger")
    ]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err.decode()

    assert len(kept_trees(cache)) == 1
    assert (tmp_path / "ledger" / "ledger" / "README.md").read_text() == "# ledger\n"


def test_without_a_cache_to_write_to_a_commit_is_checked_out_for_one_use(
    tmp_path: Path, template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only home (a container's) must not stop svc: the cache folder cannot be made."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))

    made = new(template, tmp_path / "a")

    assert (made / "README.md").read_text() == "# billing\n"
