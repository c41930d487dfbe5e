"""Templates written to attack: nothing outside the template is ever read, in either format,
from any kind of source, and nothing is left behind when svc refuses."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import build_tree, commit_all, git, init_repo, tag
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


# --- code a template runs: found wherever its format allows it, run only with --trust -------


def _marker(tmp_path: Path) -> Path:
    return tmp_path / "code-ran"


def _copier_with(tmp_path: Path, config: str, extra: dict[str, str] | None = None) -> Path:
    files = {"copier.yml": config, "README.md.jinja": "{{ service_name }}\n", **(extra or {})}
    return build_tree(tmp_path / "tpl", files)


COPIER_CODE = {
    "tasks through !include": lambda marker: (
        "service_name: {type: str}\n---\n!include 'includes/*.yml'\n",
        {"includes/tasks.yml": f"_tasks: ['touch {marker}']\n"},
    ),
    "tasks in a second document": lambda marker: (
        f"service_name: {{type: str}}\n---\n_tasks: ['touch {marker}']\n",
        {},
    ),
}


@pytest.mark.parametrize("where", COPIER_CODE)
def test_copier_code_runs_only_with_trust_wherever_it_is_written(tmp_path: Path, where: str):
    marker = _marker(tmp_path)
    config, extra = COPIER_CODE[where](marker)
    template = _copier_with(tmp_path, config, extra)
    out = tmp_path / "out"
    refused = svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults")
    assert refused.exit_code == 2
    assert "--trust" in refused.output
    assert not marker.exists()
    assert not out.exists() or not any(out.iterdir())
    trusted = svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults", "--trust")
    assert trusted.exit_code == 0, trusted.output
    assert marker.exists()


def test_copier_migrations_through_include_are_found(tmp_path: Path):
    marker = _marker(tmp_path)
    template = init_repo(tmp_path / "tpl")
    _copier_with(tmp_path, "_templates_suffix: .jinja\nservice_name: {type: str}\n")
    commit_all(template, "v1")
    tag(template, "v1.0.0")
    out = tmp_path / "out"
    assert svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults").exit_code == 0
    service = out / "svc-one"
    build_tree(
        template,
        {
            "copier.yml": "_templates_suffix: .jinja\nservice_name: {type: str}\n---\n!include 'more.yml'\n",
            "more.yml": f"_migrations:\n  - version: v2.0.0\n    command: touch {marker}\n",
        },
    )
    commit_all(template, "v2")
    tag(template, "v2.0.0")
    refused = svc("update", service)
    assert refused.exit_code == 2
    assert f"touch {marker}" in refused.output
    assert git(service, "status", "--porcelain") == ""
    trusted = svc("update", service, "--trust", "--commit")
    assert trusted.exit_code == 0, trusted.output
    assert marker.exists()


COOKIECUTTER_CODE = {
    "pre_prompt hook (shell)": lambda marker: {"hooks/pre_prompt.sh": f"#!/bin/sh\ntouch {marker}\n"},
    "pre_gen_project hook (python)": lambda marker: {
        "hooks/pre_gen_project.py": f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    },
    "post_gen_project hook (shell)": lambda marker: {
        "hooks/post_gen_project.sh": f"#!/bin/sh\ntouch {marker}\n"
    },
    "local extension": lambda marker: {
        "cookiecutter.json": (
            '{"service_name": "x", "project_slug": "{{ cookiecutter.service_name }}", '
            '"_extensions": ["local_extensions.MarkerExtension"]}'
        ),
        "local_extensions.py": (
            "import pathlib\nfrom jinja2.ext import Extension\n\n"
            "class MarkerExtension(Extension):\n"
            "    def __init__(self, environment):\n"
            "        super().__init__(environment)\n"
            f"        pathlib.Path({str(marker)!r}).touch()\n"
        ),
    },
}


@pytest.mark.parametrize("what", COOKIECUTTER_CODE)
def test_cookiecutter_code_runs_only_with_trust(tmp_path: Path, what: str):
    marker = _marker(tmp_path)
    template = _cookiecutter(tmp_path / "tpl")
    build_tree(template, COOKIECUTTER_CODE[what](marker))
    for hook in (template / "hooks").glob("*.sh") if (template / "hooks").is_dir() else []:
        hook.chmod(0o755)
    out = tmp_path / "out"
    refused = svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults")
    assert refused.exit_code == 2
    assert "--trust" in refused.output
    assert not marker.exists()
    trusted = svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults", "--trust")
    assert trusted.exit_code == 0, trusted.output
    assert marker.exists()
    assert (out / "svc-one" / "README.md").read_text() == "hi\n"


GPL_ONLY = "{%% if cookiecutter.license == 'GPL-3.0' -%%} %s {%%- endif %%}"


def test_a_cookiecutter_file_whose_name_renders_empty_is_skipped(tmp_path: Path):
    template = build_tree(
        tmp_path / "tpl",
        {
            "cookiecutter.json": '{"service_name": "x", "project_slug": "{{ cookiecutter.service_name }}",'
            ' "license": ["MIT", "GPL-3.0"]}',
            "{{cookiecutter.project_slug}}/README.md": "hi\n",
            f"{{{{cookiecutter.project_slug}}}}/{GPL_ONLY % 'LICENSE'}": "GPL\n",
            f"{{{{cookiecutter.project_slug}}}}/docs/{GPL_ONLY % 'COPYING'}": "x\n",
        },
    )
    out = tmp_path / "out"
    mit = svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults")
    assert mit.exit_code == 0, mit.output
    assert not (out / "svc-one" / "LICENSE").exists()
    gpl = svc(
        "new", "svc-two", "--template", template, "--output-dir", out, "--defaults", "-d", "license=GPL-3.0"
    )
    assert gpl.exit_code == 0, gpl.output
    assert (out / "svc-two" / "LICENSE").read_text() == "GPL\n"
    assert (out / "svc-two" / "docs" / "COPYING").is_file()


def test_a_template_is_read_as_committed_without_export_rules(tmp_path: Path):
    """copier reads a clone; `git archive` would rewrite export-subst files with the template's
    commit (a change at every release) and drop export-ignore files."""
    template = init_repo(tmp_path / "tpl")
    _copier(template)
    build_tree(
        template,
        {
            ".gitattributes": ".git_archival.txt export-subst\nCONTRIBUTING.md export-ignore\n",
            ".git_archival.txt": "node: $Format:%H$\n",
            "CONTRIBUTING.md": "Send patches.\n",
        },
    )
    commit_all(template, "v1")
    tag(template, "v1.0.0")
    out = tmp_path / "out"
    result = svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults")
    assert result.exit_code == 0, result.output
    assert (out / "svc-one" / ".git_archival.txt").read_text() == "node: $Format:%H$\n"
    assert (out / "svc-one" / "CONTRIBUTING.md").read_text() == "Send patches.\n"


# --- what a trusted hook builds in an ignored folder is the hook's business ------------------

VENV_HOOK = (
    "import os, sys\nos.makedirs('.tox/bootstrap/bin')\n"
    "os.symlink(sys.executable, '.tox/bootstrap/bin/python')\n"
)


def _venv_building(root: Path, fmt: str) -> Path:
    template = init_repo(root)
    if fmt == "cookiecutter":
        _cookiecutter(template)
        build_tree(
            template,
            {
                "hooks/post_gen_project.py": VENV_HOOK,
                "{{cookiecutter.project_slug}}/.gitignore": ".tox/\n",
            },
        )
    else:
        build_tree(
            template,
            {
                "copier.yml": (
                    "service_name: {type: str}\n_tasks: ['python3 make_venv.py', 'rm make_venv.py']\n"
                ),
                "README.md": "hi\n",
                "make_venv.py": VENV_HOOK,
                ".gitignore": ".tox/\n",
            },
        )
    commit_all(template, "v1")
    tag(template, "v1.0.0")
    return template


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_virtualenv_a_trusted_hook_builds_in_an_ignored_folder_is_left_alone(tmp_path: Path, fmt: str):
    template = _venv_building(tmp_path / "tpl", fmt)
    out = tmp_path / "out"
    made = svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults", "--trust")
    assert made.exit_code == 0, made.output
    service = out / "svc-one"
    assert (service / ".tox" / "bootstrap" / "bin" / "python").is_symlink()
    committed = git(service, "ls-files").split()
    assert ".gitignore" in committed and not any(rel.startswith(".tox") for rel in committed)
    assert git(service, "status", "--porcelain") == ""

    build_tree(
        template, {"README.md" if fmt == "copier" else "{{cookiecutter.project_slug}}/README.md": "v2\n"}
    )
    commit_all(template, "v2")
    tag(template, "v2.0.0")
    updated = svc("update", service, "--trust", "--commit")
    assert updated.exit_code == 0, updated.output
    assert (service / "README.md").read_text() == "v2\n"
    assert not any(rel.startswith(".tox") for rel in git(service, "ls-files").split())


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_link_out_among_the_files_a_service_holds_is_still_refused(tmp_path: Path, fmt: str):
    template = _venv_building(tmp_path / "tpl", fmt)
    gitignore = ".gitignore" if fmt == "copier" else "{{cookiecutter.project_slug}}/.gitignore"
    build_tree(template, {gitignore: "*.pyc\n"})
    commit_all(template, "the virtualenv is no longer ignored")
    tag(template, "v1.1.0")
    out = tmp_path / "out"
    refused = svc("new", "svc-one", "--template", template, "--output-dir", out, "--defaults", "--trust")
    assert refused.exit_code == 2, refused.output
    assert "link .tox/bootstrap/bin/python that points outside the service's folder" in refused.output
    assert not out.exists() or not any(out.iterdir())
