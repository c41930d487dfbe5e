"""The installed `svc` script and `python -m scaffold`, run as real processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, check=False, cwd=cwd, stdin=subprocess.DEVNULL
    )


def test_python_m_scaffold_shows_help():
    done = run(sys.executable, "-m", "scaffold", "--help")
    assert done.returncode == 0
    for command in ("new", "update", "check", "diff", "templates"):
        assert command in done.stdout


def test_installed_svc_script_reports_its_version():
    svc = shutil.which("svc", path=str(Path(sys.executable).parent))
    assert svc is not None, "the svc console script is not installed next to this python"
    done = run(svc, "--version")
    assert done.returncode == 0
    assert "svc, version" in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["new", "Bad_Name"],
        ["new", "billing", "--template", "/no/such/template"],
        ["update", "/no/such/service"],
        ["check", "/"],
    ],
)
def test_errors_are_one_line_on_stderr_with_exit_2_and_no_traceback(tmp_path, args):
    done = run(sys.executable, "-m", "scaffold", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_new_without_a_terminal_never_prompts(tmp_path):
    # stdin is not a terminal: defaults are taken, nothing waits for input.
    done = run(sys.executable, "-m", "scaffold", "new", "billing", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "billing" / ".svc.yml").is_file()


def test_new_on_a_terminal_asks_the_unanswered_questions(tmp_path):
    import pexpect
    from template_repos import copier_template

    repo = copier_template(tmp_path / "tpl")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "scaffold", "new", "billing", "-t", str(repo), "-o", str(tmp_path)],
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 120),
    )
    child.expect("port")
    child.send("\x15")  # clear the proposed default, as a user editing the answer would
    child.send("9001\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "Listens on 9001." in (tmp_path / "billing" / "README.md").read_text()
