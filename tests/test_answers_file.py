"""The answers file svc leaves in a copier-made service is what copier itself writes, so
plain `copier update` keeps working and never shows a diff of svc's making."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import build_tree, commit_all, init_repo, tag
from update_support import svc


@pytest.mark.parametrize(
    "answers_template",
    [
        "{{ _copier_answers|to_nice_yaml }}",
        "# Managed by copier\n{{ _copier_answers|to_nice_yaml }}",
        "{{ _copier_answers|to_json }}",
    ],
)
def test_the_answers_file_is_byte_for_byte_what_copier_writes(tmp_path, answers_template):
    template = init_repo(tmp_path / "tpl")
    build_tree(
        template,
        {
            "copier.yml": "_templates_suffix: .jinja\nservice_name: {type: str}\n"
            "port: {type: int, default: 8000}\nowner: {type: str, default: platform}\n",
            "{{_copier_conf.answers_file}}.jinja": answers_template + "\n",
            "README.md.jinja": "{{ service_name }}\n",
        },
    )
    commit_all(template, "v1")
    tag(template, "v1.0.0")
    copier = str(Path(sys.executable).parent / "copier")
    answers = ["--defaults", "--quiet", "-d", "service_name=demo", "-d", "port=9000"]
    by_copier = tmp_path / "by-copier"
    subprocess.run(
        [copier, "copy", *answers, "--vcs-ref", "v1.0.0", str(template), str(by_copier)], check=True
    )
    made = svc("new", "demo", "-t", template, "-o", tmp_path / "by-svc", "--defaults", "-d", "port=9000")
    assert made.exit_code == 0, made.output
    ours = (tmp_path / "by-svc" / "demo" / ".copier-answers.yml").read_bytes()
    theirs = (by_copier / ".copier-answers.yml").read_bytes()
    assert ours == theirs


def test_a_service_that_follows_a_branch_moves_with_its_tip(tmp_path: Path) -> None:
    template = init_repo(tmp_path / "tpl")
    files = {
        "copier.yml": "_templates_suffix: .jinja\nservice_name: {type: str}\n",
        "{{_copier_conf.answers_file}}.jinja": "{{ _copier_answers|to_nice_yaml }}\n",
        "README.md": "v1\n",
    }
    build_tree(template, files)
    commit_all(template, "v1")
    tag(template, "v1.0.0")
    build_tree(template, {"NOTES.md": "on main after v1.0.0\n"})
    commit_all(template, "main moves on")
    branch = subprocess.run(["git", "branch", "--show-current"], cwd=template, capture_output=True, text=True)
    main = branch.stdout.strip()
    described = subprocess.run(
        ["git", "describe", "--tags", "--always", main], cwd=template, capture_output=True, text=True
    ).stdout.strip()

    made = svc("new", "demo", "-t", template, "-o", tmp_path / "out", "--ref", main, "--defaults")
    assert made.exit_code == 0, made.output
    service = tmp_path / "out" / "demo"
    assert f"_commit: {described}\n" in (service / ".copier-answers.yml").read_text()
    assert svc("check", service).exit_code == 0  # on the tip of its branch: current

    build_tree(template, {"README.md": "v1, and more on main\n"})
    commit_all(template, "main moves again")
    assert svc("check", service).exit_code == 1
    updated = svc("update", service, "--commit")
    assert updated.exit_code == 0, updated.output
    assert (service / "README.md").read_text() == "v1, and more on main\n"
    assert (service / "NOTES.md").is_file()  # not moved back to the v1.0.0 tag
