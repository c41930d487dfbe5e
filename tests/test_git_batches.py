"""Reading many files of a commit in one git process, as updates do for answers files."""

from __future__ import annotations

from pathlib import Path

from helpers import init_repo

from scaffold import git


def test_blobs_reads_each_named_file_and_none_for_the_rest(tmp_path: Path) -> None:
    repo = init_repo(
        tmp_path / "repo",
        {"a file.txt": "spaced\n", "dir/b.yml": "b: 1\n", "new\nline": "odd\n", "empty": ""},
    )
    wanted = [
        "HEAD:a file.txt",
        "HEAD:missing 12",
        "HEAD:dir",
        "HEAD:empty",
        "HEAD~9:dir/b.yml",
        "HEAD:dir/b.yml",
    ]
    expected = [b"spaced\n", None, None, b"", None, b"b: 1\n"]
    assert git.blobs(repo, *wanted) == expected
    # A name with a line break is no line of `cat-file --batch`: the same answers, the long way.
    assert git.blobs(repo, *wanted, "HEAD:new\nline") == [*expected, b"odd\n"]
