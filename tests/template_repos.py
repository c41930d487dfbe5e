"""Small real templates in both formats, as git repositories with tagged versions."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from helpers import build_tree, commit_all, free_port, init_repo, tag

COPIER_V1 = {
    "copier.yml": """
        _templates_suffix: .jinja
        service_name:
          type: str
          validator: "{% if service_name | length < 2 %}must have at least 2 characters{% endif %}"
        port:
          type: int
          default: 8000
          validator: "{% if port < 1024 %}must be 1024 or more{% endif %}"
    """,
    "{{ _copier_conf.answers_file }}.jinja": "{{ _copier_answers | to_nice_yaml }}",
    "README.md.jinja": "# {{ service_name }}\n\nListens on {{ port }}.\n",
    "src/{{ service_name | replace('-', '_') }}/__init__.py.jinja": "NAME = '{{ service_name }}'\n",
}

COOKIECUTTER_V1 = {
    "cookiecutter.json": '{"project_slug": "my-service", "port": "8000"}\n',
    "{{cookiecutter.project_slug}}/README.md": (
        "# {{ cookiecutter.project_slug }}\n\nListens on {{ cookiecutter.port }}.\n"
    ),
    "{{cookiecutter.project_slug}}/app.py": "PORT = {{ cookiecutter.port }}\n",
}


def copier_template(root: Path) -> Path:
    """A copier template with releases v1.0.0 and v1.1.0, a pre-release and a branch."""
    init_repo(root, COPIER_V1)
    tag(root, "v1.0.0")
    build_tree(root, {"CHANGELOG.md": "1.1.0\n"})
    commit_all(root, "v1.1.0")
    tag(root, "v1.1.0")
    build_tree(root, {"CHANGELOG.md": "2.0.0rc1\n"})
    commit_all(root, "v2.0.0rc1")
    tag(root, "v2.0.0rc1")
    return root


def cookiecutter_template(root: Path) -> Path:
    init_repo(root, COOKIECUTTER_V1)
    tag(root, "1.0.0")
    return root


@contextlib.contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """Serve every repository below `base` over git:// on a loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(5)
