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
