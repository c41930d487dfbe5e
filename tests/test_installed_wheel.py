"""svc as users get it: `pip install .` (not editable) into a fresh venv with the pip that
Python ships, bytecode writing on, then `svc new` and `svc update` from that install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from template_support import REPO_ROOT, run_checked

from scaffold import __version__


@pytest.fixture(scope="module")
def installed_svc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `svc` script of a fresh venv that pip installed svc into from this checkout."""
    venv = tmp_path_factory.mktemp("wheel") / "venv"
    # A venv made from the base interpreter gets the pip that Python bundles, not an upgraded one.
    run_checked([sys.executable, "-m", "venv", str(venv)])
    env = {"PIP_CACHE_DIR": str(REPO_ROOT / ".cache" / "pip"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    run_checked([str(venv / "bin" / "pip"), "install", "--quiet", str(REPO_ROOT)], env=_bytecode_on(env))
    return venv / "bin" / "svc"


def _bytecode_on(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **(extra or {})}


def _svc(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *args], cwd=cwd, env=_bytecode_on(), capture_output=True, text=True, check=False
    )


@pytest.mark.slow
def test_a_service_made_by_an_installed_svc_holds_no_bytecode(installed_svc: Path, tmp_path: Path):
    site = installed_svc.parent.parent / "lib"
    compiled = list(site.glob("python3.*/site-packages/scaffold/templates/**/__pycache__/*.pyc"))
    assert compiled, "pip did not byte-compile the template: this test would prove nothing"

    made = _svc(installed_svc, "new", "billing", "--defaults", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    service = tmp_path / "billing"
    tracked = subprocess.run(["git", "ls-files"], cwd=service, capture_output=True, text=True, check=True)
    assert not [p for p in tracked.stdout.splitlines() if "__pycache__" in p or p.endswith(".pyc")]
    assert not list(service.rglob("*.pyc"))

    # Running the service's code writes bytecode; it is ignored, so svc still sees a clean tree.
    subprocess.run(
        [sys.executable, "-c", "import compileall, sys; compileall.compile_dir('src', quiet=1)"],
        cwd=service,
        env=_bytecode_on(),
        check=True,
    )
    updated = _svc(installed_svc, "update", "--ref", __version__, "-d", "port=9000", cwd=service)
    assert updated.returncode == 0, updated.stderr
    assert "9000" in (service / ".svc.yml").read_text()
