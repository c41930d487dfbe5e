"""The template-format seam: a third format, defined here, plugs in through the table.

`tiny` is a format of its own: `tiny.json` lists the questions with their defaults, and
every other file is copied with `$name` placeholders filled in (Python's string.Template).
One class and one registration make svc generate, check and update services from it.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from helpers import build_tree, commit_all, init_repo, tag
from update_support import edit, git, svc

from scaffold.migrations import Migration
from scaffold.provenance import Layer, Provenance
from scaffold.render import ENGINES, Question, RenderRequest


class TinyEngine:
    name = "tiny"
    markers: tuple[str, ...] = ("tiny.json",)
    answers_file: str | None = None

    def detect(self, template_dir: Path) -> bool:
        return (template_dir / self.markers[0]).is_file()

    def questions(self, template_dir: Path) -> dict[str, Question]:
        spec = json.loads((template_dir / self.markers[0]).read_text())
        return {name: Question(name, type(value).__name__, value) for name, value in spec.items()}

    def render(self, template_dir: Path, dest: Path, request: RenderRequest) -> dict[str, Any]:
        asked = self.questions(template_dir)
        answers = {name: request.data.get(name, q.default) for name, q in asked.items()}
        answers["service_name"] = request.service_name
        for path in sorted(template_dir.rglob("*")):
            rel = path.relative_to(template_dir)
            if path.is_file() and rel.parts[0] not in (".git", self.markers[0]):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                (dest / rel).write_text(string.Template(path.read_text()).substitute(answers))
        return answers

    def import_project(self, root: Path, answers_file: str | None = None) -> Provenance | None:
        return None

    def answers_file_after_update(
        self, ours: str | None, theirs: str | None, layer: Layer, answers: Mapping[str, Any]
    ) -> str | None:
        return None

    def migrations(
        self, template_dir: Path, before: Layer, after: Layer, answers: Mapping[str, Any]
    ) -> list[Migration]:
        return []


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """The format's one registration, in the table, for one test (monkeypatch takes it back)."""
    monkeypatch.setitem(ENGINES, TinyEngine.name, TinyEngine())


def _release(repo: Path, version: str, readme: str) -> None:
    files = {"tiny.json": '{"owner": "platform"}', "README.md": readme, "app.txt": "app $service_name\n"}
    build_tree(repo, files)
    commit_all(repo, version)
    tag(repo, version)


def test_a_third_format_generates_and_updates_services(tiny: None, tmp_path: Path):
    template = init_repo(tmp_path / "tpl")
    _release(template, "v1.0.0", "# $service_name\n\nOwned by $owner.\n")
    made = svc("new", "demo", "--template", template, "--output-dir", tmp_path, "-d", "owner=payments")
    assert made.exit_code == 0, made.output
    service = tmp_path / "demo"
    assert (service / "README.md").read_text() == "# demo\n\nOwned by payments.\n"
    assert "format: tiny" in (service / ".svc.yml").read_text()

    edit(service / "app.txt", "app demo", "app demo, tuned by the team")
    git(service, "commit", "-qam", "team edit")
    _release(template, "v2.0.0", "# $service_name\n\nOwned by $owner.\n\nSee the runbook.\n")
    assert svc("check", service).exit_code == 1
    updated = svc("update", service, "--commit")
    assert updated.exit_code == 0, updated.output
    assert "See the runbook." in (service / "README.md").read_text()
    assert "Owned by payments." in (service / "README.md").read_text()
    assert "tuned by the team" in (service / "app.txt").read_text()


def test_the_third_format_is_not_seen_outside_its_tests(tmp_path: Path):
    assert "tiny" not in ENGINES
    template = init_repo(tmp_path / "tpl")
    _release(template, "v1.0.0", "# $service_name\n")
    refused = svc("new", "demo", "--template", template, "--output-dir", tmp_path)
    assert refused.exit_code == 2
    assert "neither copier.yml nor cookiecutter.json" in refused.output
