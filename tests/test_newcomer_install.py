"""A newcomer installs a generated service with the pip a fresh Python 3.11 venv ships.

`pip install -e . --group dev` needs pip 25.1; a fresh 3.11 venv has 23.2.1. The documented
install (the lock file with hashes, then the service with --no-deps) must work without an
upgrade of pip, in the service's README and in svc's docs alike.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.version import Version
from template_support import REPO_ROOT, TEMPLATES_DIR, render_template, run_checked

# The install line of the docs, with a venv's pip (`.venv/bin/pip`) or an activated one (`pip`).
INSTALL = "{pip} install --require-hashes -r requirements-dev.txt && {pip} install --no-deps -e ."
DOCS = ("docs/index.md", "docs/builtin-template.md", "docs/radar.md")


def test_the_docs_install_a_service_from_its_lock_file_and_never_with_dependency_groups() -> None:
    readme = (TEMPLATES_DIR / "python-service" / "template" / "README.md.jinja").read_text()
    for doc in DOCS:
        text = (REPO_ROOT / doc).read_text()
        assert INSTALL.format(pip=".venv/bin/pip") in text or INSTALL.format(pip="pip") in text, doc
    for name, text in [(doc, (REPO_ROOT / doc).read_text()) for doc in DOCS] + [("README", readme)]:
        installs = [line for line in text.splitlines() if "pip install" in line]
        assert not [line for line in installs if "--group" in line or "-U pip" in line], name


@pytest.mark.slow
def test_the_readme_install_works_with_the_pip_of_a_fresh_python_3_11_venv(tmp_path: Path) -> None:
    python311 = shutil.which("python3.11")
    if python311 is None:
        pytest.skip("needs python3.11")
    template = TEMPLATES_DIR / "python-service"
    service = render_template(template, tmp_path / "billing", {"service_name": "billing"})
    commands = _readme_install_commands(service / "README.md")
    assert commands == [
        "python3 -m venv .venv",
        ".venv/bin/pip install --require-hashes -r requirements-dev.txt",
        ".venv/bin/pip install --no-deps -e .",
    ]

    for command in commands:
        # The newcomer's interpreter is the oldest the service supports, with the pip it ships.
        run_checked(["sh", "-c", command.replace("python3 ", f"{python311} ", 1)], cwd=service)
        if command.endswith("venv .venv"):
            pip = subprocess.run(
                [".venv/bin/python", "-m", "pip", "--version"], cwd=service, capture_output=True, text=True
            ).stdout.split()[1]
            assert Version(pip) < Version("25.1"), pip  # too old for --group: the case that matters

    out = run_checked([".venv/bin/pytest", "-q", "-p", "no:cacheprovider"], cwd=service)
    assert " passed" in out and "failed" not in out


def _readme_install_commands(readme: Path) -> list[str]:
    """The venv and pip lines of the README's first shell block ("Run it"), comments dropped."""
    block = re.search(r"```sh\n(.*?)```", readme.read_text(), re.DOTALL)
    assert block is not None
    lines = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line.startswith(("python3 -m venv", ".venv/bin/pip"))]
