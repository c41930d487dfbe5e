"""Template repositories in both formats, built from one description, for the update tests.

A test describes a template version as the files of the service it renders, with `@name@`
placeholders for answers; `TemplateRepo` writes that as a copier template (`copier.yml`,
`*.jinja`) or a cookiecutter one (`cookiecutter.json`, `{{cookiecutter.project_slug}}/`),
commits it and tags it. The same story then runs against either format.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from helpers import build_tree, commit_all, git, init_repo, tag, with_changes

from scaffold.cli import main

FORMATS = ("copier", "cookiecutter")
_PLACEHOLDER = re.compile(r"@(\w+)@")
# The questions every test template asks (beyond service_name), with their defaults.
QUESTIONS: dict[str, Any] = {"port": 8000, "owner": "platform"}

LOGO = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256))

# A small service: enough files for renames, deletions and edits to mean something.
BASE_FILES: dict[str, str | bytes] = {
    "README.md": """\
        # @service_name@

        A service owned by @owner@.

        ## Running

        Start it with `python -m app`; it listens on port @port@.

        ## Support

        Ask the platform team.
        """,
    "app/main.py": """\
        import os

        PORT = int(os.environ.get("PORT", "@port@"))


        def serve() -> None:
            print("serving on", PORT)


        def health() -> str:
            return "ok"
        """,
    "app/registry.py": """\
        def register(name: str) -> None:
            print("register", name)


        def deregister(name: str) -> None:
            print("deregister", name)
        """,
    "Dockerfile": """\
        FROM python:3.12-slim
        WORKDIR /srv
        COPY . .
        EXPOSE @port@
        CMD ["python", "-m", "app"]
        """,
    "scripts/run.sh": "#!/bin/sh\nexec python -m app\n",
    "assets/logo.png": LOGO,
}


def _copier_name(rel: str, text: str | bytes) -> str:
    return rel + ".jinja" if isinstance(text, str) and _PLACEHOLDER.search(text) else rel


@dataclass
class TemplateRepo:
    """A template git repository whose versions are described as rendered files."""

    path: Path
    fmt: str
    questions: dict[str, Any] = field(default_factory=lambda: dict(QUESTIONS))
    extra_config: dict[str, Any] = field(default_factory=dict)

    def release(
        self,
        version: str,
        files: Mapping[str, str | bytes],
        executable: tuple[str, ...] = ("scripts/run.sh",),
    ) -> str:
        """Make the repository hold exactly `files` (as a template), commit and tag it."""
        for child in self.path.iterdir():
            if child.name != ".git":
                subprocess.run(["rm", "-rf", str(child)], check=True)
        if self.fmt == "copier":
            self._write_copier(files)
        else:
            self._write_cookiecutter(files)
        for rel in executable:
            target = self._file_for(rel, files)
            if target.exists():
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        commit = commit_all(self.path, f"release {version}")
        tag(self.path, version)
        return commit

    def _file_for(self, rel: str, files: Mapping[str, str | bytes]) -> Path:
        if self.fmt == "copier":
            return self.path / _copier_name(rel, files.get(rel, ""))
        return self.path / "{{cookiecutter.project_slug}}" / rel

    def _write_copier(self, files: Mapping[str, str | bytes]) -> None:
        config: dict[str, Any] = {"_templates_suffix": ".jinja", "service_name": {"type": "str"}}
        for name, default in self.questions.items():
            kind = "int" if isinstance(default, int) else "str"
            config[name] = {"type": kind, "default": default}
        config.update(self.extra_config)
        build_tree(
            self.path,
            {
                "copier.yml": yaml.safe_dump(config, sort_keys=False),
                "{{_copier_conf.answers_file}}.jinja": "{{ _copier_answers|to_nice_yaml }}",
            },
        )
        build_tree(
            self.path,
            {_copier_name(rel, text): _to_jinja(text, "{{ %s }}") for rel, text in files.items()},
        )

    def _write_cookiecutter(self, files: Mapping[str, str | bytes]) -> None:
        spec = {
            "service_name": "demo",
            "project_slug": "{{ cookiecutter.service_name }}",
            **self.questions,
        }
        build_tree(self.path, {"cookiecutter.json": _json(spec)})
        root = "{{cookiecutter.project_slug}}/"
        build_tree(
            self.path,
            {root + rel: _to_jinja(text, "{{ cookiecutter.%s }}") for rel, text in files.items()},
        )


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


def _to_jinja(text: str | bytes, pattern: str) -> str | bytes:
    if isinstance(text, bytes):
        return text
    return _PLACEHOLDER.sub(lambda m: pattern % m.group(1), textwrap.dedent(text).lstrip("\n"))


def template_repo(root: Path, fmt: str, **kwargs: Any) -> TemplateRepo:
    init_repo(root)
    return TemplateRepo(root, fmt, **kwargs)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# --- running svc -------------------------------------------------------------------------


def svc(*args: str | Path, input: str | None = None) -> Result:
    """Run the svc CLI in-process."""
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def new_service(template: TemplateRepo, out: Path, *extra: str, name: str = "demo") -> Path:
    result = svc("new", name, "--template", template.path, "--output-dir", out, "--defaults", *extra)
    assert result.exit_code == 0, result.output
    return out / name


def released_service(tmp_path: Path, fmt: str, **kwargs: Any) -> tuple[TemplateRepo, Path]:
    """A template (format `fmt`) released as v1.0.0, and a service made from it by svc."""
    template = template_repo(tmp_path / "template", fmt, **kwargs)
    template.release("v1.0.0", BASE_FILES)
    return template, new_service(template, tmp_path / "out")


def cruft_create(template: Path, out: Path, *args: str) -> str:
    """`cruft create` of `template` at v1.0.0 into `out`, as a team made projects before svc;
    returns the cruft command. The test is skipped where cruft is not installed."""
    cruft = shutil.which("cruft", path=str(Path(sys.executable).parent))
    if cruft is None:
        pytest.skip("cruft is not installed (pip install cruft)")
    command = [cruft, "create", "--no-input", "--checkout", "v1.0.0", "--output-dir", str(out), *args]
    subprocess.run([*command, str(template)], check=True, capture_output=True)
    return cruft


def copier_project(tmp_path: Path) -> tuple[TemplateRepo, Path]:
    """A copier template released as v1.0.0, and a project made from it by plain `copier copy`."""
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    project = tmp_path / "demo"
    copier = str(Path(sys.executable).parent / "copier")
    answers = ["--defaults", "--quiet", "-d", "service_name=demo"]
    subprocess.run([copier, "copy", *answers, str(template.path), str(project)], check=True)
    return template, project


def snapshot(repo: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of the work tree (not .git) with its mode and bytes."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(dirpath) / name
            files[str(path.relative_to(repo))] = (
                path.lstat().st_mode,
                path.read_bytes() if not path.is_symlink() else b"",
            )
    return files


def repo_state(repo: Path) -> dict[str, Any]:
    """Everything an abort must restore: the tree, HEAD, the index, svc/template, merge files."""
    gdir = repo / ".git"
    return {
        "tree": snapshot(repo),
        "head": git(repo, "rev-parse", "HEAD"),
        "index": git(repo, "ls-files", "-s"),
        "template": git(repo, "for-each-ref", "--format=%(objectname)", "refs/heads/svc/template"),
        "merge": sorted(p.name for p in gdir.iterdir() if p.name.startswith("MERGE")),
        "status": git(repo, "status", "--porcelain"),
    }


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def without_render_trailers(repo: Path) -> None:
    """Make a new service look like one made before render commits had trailers."""
    message = git(repo, "log", "-1", "--format=%B", "svc/template").split("\n\n")[0]
    tree = git(repo, "rev-parse", "svc/template^{tree}").strip()
    legacy = git(repo, "commit-tree", tree, "-m", message).strip()
    git(repo, "update-ref", "refs/heads/svc/template", legacy)
    git(repo, "reset", "-q", "--hard", legacy)


def conflicted(repo: Path) -> list[str]:
    return git(repo, "diff", "--name-only", "--diff-filter=U").split()


__all__ = [
    "BASE_FILES",
    "FORMATS",
    "TemplateRepo",
    "commit_all",
    "conflicted",
    "dedent",
    "edit",
    "git",
    "new_service",
    "repo_state",
    "snapshot",
    "svc",
    "template_repo",
    "with_changes",
    "without_render_trailers",
]
