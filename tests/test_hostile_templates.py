"""Templates written to attack: nothing outside the template is ever read, in either format,
from any kind of source, and nothing is left behind when svc refuses."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import build_tree, commit_all, init_repo, tag
from update_support import svc

SECRET = "top-secret-value-7f3a"


def _cookiecutter(root: Path) -> Path:
    return build_tree(
        root,
        {
            "cookiecutter.json": '{"service_name": "x", "project_slug": "{{ cookiecutter.service_name }}"}',
            "{{cookiecutter.project_slug}}/README.md": "hi\n",
        },
    )


def _copier(root: Path) -> Path:
    return build_tree(root, {"copier.yml": "service_name: {type: str}\n", "README.md": "hi\n"})


FORMATS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "cookiecutter": (_cookiecutter, "{{cookiecutter.project_slug}}"),
    "copier": (_copier, "."),
}


def _absolute_file_link(template: Path, files: str, outside: Path) -> None:
    os.symlink(outside / "secret.txt", template / files / "leak")


def _relative_file_link(template: Path, files: str, outside: Path) -> None:
    target = os.path.relpath(outside / "secret.txt", template / files)
    os.symlink(target, template / files / "leak")


def _linked_folder(template: Path, files: str, outside: Path) -> None:
    os.symlink(outside, template / files / "docs")


LINKS = {"absolute": _absolute_file_link, "relative": _relative_file_link, "folder": _linked_folder}


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    return outside


def _refused_and_nothing_made(result_output: str, exit_code: int, out: Path) -> None:
    assert exit_code == 2, result_output
    assert "points outside the template" in result_output
    assert SECRET not in result_output
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("link", LINKS)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["folder", "work tree", "subfolder of a repository", "repository"])
def test_a_link_out_of_the_template_is_refused_before_anything_is_read(
    tmp_path: Path, fmt: str, link: str, kind: str
):
    outside = _outside(tmp_path)
    make, files = FORMATS[fmt]
    if kind == "subfolder of a repository":
        repo = init_repo(tmp_path / "repo")
        template = make(repo / "templates" / "service")
    else:
        template = make(tmp_path / "tpl")
    LINKS[link](template, files, outside)
    if kind in ("work tree", "repository"):
        init_repo(template)
        commit_all(template, "v1")
        tag(template, "v1.0.0")
    elif kind == "subfolder of a repository":
        commit_all(tmp_path / "repo", "v1")

    out = tmp_path / "out"
    source = f"file://{template}" if kind == "repository" else str(template)
    result = svc("new", "svc-one", "--template", source, "--output-dir", out, "--defaults")
    _refused_and_nothing_made(result.output, result.exit_code, out)


def test_a_link_inside_the_template_is_fine(tmp_path: Path):
    template = _cookiecutter(tmp_path / "tpl")
    os.symlink("README.md", template / "{{cookiecutter.project_slug}}" / "INDEX.md")
    out = tmp_path / "out"
    result = svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults")
    assert result.exit_code == 0, result.output
    assert (out / "svc-one" / "INDEX.md").read_text() == "hi\n"


def test_a_manifest_that_links_out_is_refused(tmp_path: Path):
    outside = _outside(tmp_path)
    template = _copier(tmp_path / "tpl")
    os.symlink(outside / "secret.txt", template / "svc-template.yml")
    out = tmp_path / "out"
    result = svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults")
    _refused_and_nothing_made(result.output, result.exit_code, out)
