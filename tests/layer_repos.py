"""Layered templates as real git repositories with tagged releases: a base, a company layer
on it, a team layer on that. A test releases versions of each and runs svc on the result."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result
from helpers import build_tree, commit_all, init_repo, tag, with_changes

from scaffold.cli import main

BASE_QUESTIONS = """
    _templates_suffix: .jinja
    service_name:
      type: str
    port:
      type: int
      default: 8000
    owner:
      type: str
      default: platform
"""

BASE_FILES: dict[str, str | bytes] = {
    "{{ _copier_conf.answers_file }}.jinja": "{{ _copier_answers | to_nice_yaml }}",
    "README.md.jinja": "# {{ service_name }}\n\nOwned by {{ owner }}.\n\nBase v1.\n",
    "app.py.jinja": "PORT = {{ port }}\n\n\ndef serve() -> None:\n    print('serving')\n",
    "Dockerfile": 'FROM python:3.12-slim\nCMD ["python", "app.py"]\n',
    "docs/legacy.md": "Old notes.\n",
}


def company_questions(answers_file: str = ".copier-answers.acme.yml") -> str:
    return f"""
        _templates_suffix: .jinja
        _answers_file: {answers_file}
        owner:
          type: str
          default: acme-platform
        team_channel:
          type: str
          default: "#{{{{ service_name }}}}"
    """


COMPANY_FILES: dict[str, str | bytes] = {
    "{{ _copier_conf.answers_file }}.jinja": "{{ _copier_answers | to_nice_yaml }}",
    "SUPPORT.md.jinja": "Ask {{ owner }} in {{ team_channel }} (service {{ service_name }}).\n",
    "Dockerfile": 'FROM registry.acme.example/python:3.12\nCMD ["python", "app.py"]\n',
}


def manifest(extends: str | None, ref: str | None = None, **extra: Any) -> str:
    doc: dict[str, Any] = {}
    if extends is not None:
        doc["extends"] = {"source": extends, **({"ref": ref} if ref else {})}
    doc.update(extra)
    return yaml.safe_dump(doc, sort_keys=False)


def release(repo: Path, version: str, files: Mapping[str, str | bytes]) -> str:
    """Make `repo` hold exactly `files` (dedented text), commit and tag `version`."""
    if not repo.exists():
        init_repo(repo)
    for child in repo.iterdir():
        if child.name != ".git":
            subprocess.run(["rm", "-rf", str(child)], check=True)
    build_tree(repo, files)
    commit = commit_all(repo, f"release {version}")
    tag(repo, version)
    return commit


Changes = dict[str, "str | bytes | None"]


def base_files(changes: Changes | None = None) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {"copier.yml": BASE_QUESTIONS, **BASE_FILES}
    return with_changes(files, changes or {})


def company_files(
    base_ref: str, extends: str = "../base", changes: Changes | None = None
) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {
        "copier.yml": company_questions(),
        "svc-template.yml": manifest(extends, base_ref, remove=["docs/legacy.md"]),
        **COMPANY_FILES,
    }
    return with_changes(files, changes or {})


def team_files(company_ref: str) -> dict[str, str | bytes]:
    return {
        "copier.yml": "_templates_suffix: .jinja\n_answers_file: .copier-answers.team.yml\n"
        "oncall:\n  type: str\n  default: pager-red\n",
        "svc-template.yml": manifest("../acme", company_ref),
        "{{ _copier_conf.answers_file }}.jinja": "{{ _copier_answers | to_nice_yaml }}",
        "TEAM.md.jinja": "On call: {{ oncall }}; channel {{ team_channel }}.\n",
    }


def two_layers(root: Path) -> tuple[Path, Path]:
    """base v1.0.0 and acme v1.0.0 (extending base v1.0.0), side by side under `root`."""
    base, acme = root / "base", root / "acme"
    release(base, "v1.0.0", base_files())
    release(acme, "v1.0.0", company_files("v1.0.0"))
    return base, acme


def svc(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def new(template: Path | str, out: Path, *extra: str, name: str = "demo") -> Path:
    result = svc("new", name, "--template", template, "--output-dir", out, "--defaults", *extra)
    assert result.exit_code == 0, result.output
    return out / name


def recorded(service: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((service / ".svc.yml").read_text())
    return doc
