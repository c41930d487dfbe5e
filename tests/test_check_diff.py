"""`svc check` (is each template layer current?) and `svc diff` (what would an update change?)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from update_support import (
    BASE_FILES,
    commit_all,
    copier_project,
    edit,
    released_service,
    repo_state,
    svc,
    with_changes,
)

V2_DOCKER = str(BASE_FILES["Dockerfile"]).replace("3.12-slim", "3.13-slim")


def test_check_current_service_exits_0(tmp_path: Path, fmt: str) -> None:
    _, service = released_service(tmp_path, fmt)
    result = svc("check", service)
    assert result.exit_code == 0, result.output
    assert "1.0.0 (newest 1.0.0): current" in result.output


def test_check_behind_service_exits_1_naming_both_versions(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v1.1.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    result = svc("check", service)
    assert result.exit_code == 1, result.output
    assert "1.0.0 (newest 1.1.0): behind" in result.output


def test_check_json(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v1.1.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    result = svc("check", service, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc == [{"source": str(template.path), "current": "1.0.0", "newest": "1.1.0", "behind": True}]


def test_check_ignores_pre_releases(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v2.0.0rc1", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    assert svc("check", service).exit_code == 0


@pytest.mark.parametrize("damage", ["template gone", "corrupt provenance"])
def test_check_errors_exit_2(tmp_path: Path, fmt: str, damage: str) -> None:
    template, service = released_service(tmp_path, fmt)
    if damage == "template gone":
        shutil.rmtree(template.path)
    else:
        (service / ".svc.yml").write_text("{not: [yaml")
    result = svc("check", service)
    assert result.exit_code == 2
    assert result.output.startswith("error: ")


def test_check_a_copier_project(tmp_path: Path) -> None:
    template, project = copier_project(tmp_path)
    assert svc("check", project).exit_code == 0
    template.release("v1.1.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    result = svc("check", project)
    assert result.exit_code == 1
    assert "v1.0.0 (newest 1.1.0): behind" in result.output


def test_diff_nothing_to_do_exits_0(tmp_path: Path, fmt: str) -> None:
    _, service = released_service(tmp_path, fmt)
    result = svc("diff", service)
    assert result.exit_code == 0, result.output
    assert result.output == ""


def test_diff_prints_the_update_and_changes_nothing(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    edit(service / "README.md", "Ask the platform team.", "Ask the platform team.\nLOCAL line")
    commit_all(service, "local")
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    before = repo_state(service)

    result = svc("diff", service)

    assert result.exit_code == 1, result.output
    assert "diff --git a/Dockerfile b/Dockerfile" in result.output
    assert "-FROM python:3.12-slim\n+FROM python:3.13-slim" in result.output
    assert "LOCAL line" not in result.output  # local work is not part of the update
    assert repo_state(service) == before


def test_diff_against_the_current_ref_exits_0(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    assert svc("diff", service, "--ref", "v1.0.0").exit_code == 0
    assert svc("diff", service, "--ref", "v2.0.0").exit_code == 1


def test_diff_works_on_a_dirty_tree_without_touching_it(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": V2_DOCKER}))
    (service / "scratch.txt").write_text("wip\n")
    before = repo_state(service)
    assert svc("diff", service).exit_code == 1
    assert repo_state(service) == before


def test_diff_unknown_ref_exits_2(tmp_path: Path, fmt: str) -> None:
    _, service = released_service(tmp_path, fmt)
    result = svc("diff", service, "--ref", "nope")
    assert result.exit_code == 2
    assert "nope" in result.output
