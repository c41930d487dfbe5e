"""Templates in a folder of a repository (cookiecutter's and cruft's --directory): rendered
from that folder at the ref, recorded, and found again by every later command."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import build_tree, commit_all, init_repo, tag
from update_support import git, svc

from scaffold import sources

SPEC = '{"service_name": "x", "project_slug": "{{ cookiecutter.service_name }}"}'
OUTSIDE = ("../elsewhere", "inside the template's repository")
MISSING = ("nope", "has no folder nope")


def _monorepo(root: Path, readme: str, version: str) -> Path:
    build_tree(
        root,
        {
            "README.md": "Our templates.\n",
            "templates/service/cookiecutter.json": SPEC,
            "templates/service/{{cookiecutter.project_slug}}/README.md": readme,
            "templates/other/copier.yml": "service_name: {type: str}\n",
        },
    )
    commit_all(root, version)
    tag(root, version)
    return root


@pytest.mark.parametrize("shallow", [False, True])
def test_a_template_in_a_folder_of_a_repository_is_made_and_updated(tmp_path: Path, shallow: bool) -> None:
    repo = _monorepo(init_repo(tmp_path / "templates"), "# {{ cookiecutter.service_name }}\n", "v1.0.0")
    out = tmp_path / "out"
    made = svc("new", "billing", "-t", repo, "--directory", "templates/service", "-o", out, "--defaults")
    assert made.exit_code == 0, made.output
    service = out / "billing"
    assert (service / "README.md").read_text() == "# billing\n"
    assert "directory: templates/service" in (service / ".svc.yml").read_text()
    if shallow:  # no render in reach: the base is rendered again, from the recorded folder
        origin = service
        service = tmp_path / "ci" / "billing"
        git(tmp_path, "clone", "-q", "--depth", "1", f"file://{origin}", str(service))

    _monorepo(repo, "# {{ cookiecutter.service_name }}\n\nOwned by the platform team.\n", "v2.0.0")
    assert svc("check", service).exit_code == 1
    updated = svc("update", service, "--commit")
    assert updated.exit_code == 0, updated.output
    assert "Owned by the platform team." in (service / "README.md").read_text()
    assert svc("check", service).exit_code == 0


@pytest.mark.parametrize(
    ("directory", "said"),
    [("../elsewhere", "inside the template's repository"), ("nope", "has no folder nope")],
)
def test_a_directory_that_is_not_in_the_repository_is_refused(
    tmp_path: Path, directory: str, said: str
) -> None:
    repo = _monorepo(init_repo(tmp_path / "templates"), "# x\n", "v1.0.0")
    out = tmp_path / "out"
    result = svc("new", "billing", "-t", repo, "--directory", directory, "-o", out, "--defaults")
    assert result.exit_code == 2
    assert said in result.output
    assert not out.exists() or list(out.iterdir()) == []


def test_a_remote_template_is_mirrored_as_a_partial_clone(tmp_path: Path) -> None:
    """Commits, trees and tags come at once; files only for the versions svc renders."""
    repo = _monorepo(init_repo(tmp_path / "templates"), "# {{ cookiecutter.service_name }}\n", "v1.0.0")
    for setting in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
        git(repo, "config", setting, "true")
    out = tmp_path / "out"
    url = f"file://{repo}"
    made = svc("new", "billing", "-t", url, "--directory", "templates/service", "-o", out, "--defaults")
    assert made.exit_code == 0, made.output
    mirror = sources.mirror_path(url)
    assert git(mirror, "config", "remote.origin.promisor").strip() == "true"
    _monorepo(repo, "# {{ cookiecutter.service_name }}\n\nv2\n", "v2.0.0")
    assert svc("update", out / "billing", "--commit").exit_code == 0
    assert (out / "billing" / "README.md").read_text() == "# billing\n\nv2\n"
