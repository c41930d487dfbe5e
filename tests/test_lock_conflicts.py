"""A template update and the service's own dependency bump meet in the lock files.

Played through with the built-in template copied into a git repository of its own: the
service raises one requirement and re-locks, the template raises the next one and re-locks,
`svc update` conflicts, and the command the README documents resolves it with both bumps kept.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from helpers import commit_all, git, init_repo, tag
from packaging.version import Version
from template_support import TEMPLATES_DIR, locked_pins, render_template, run_checked, service_venv
from update_support import svc

LOCKS = ("requirements.txt", "requirements-dev.txt")
# Two neighbours in the lock files and in pyproject.toml, each capped in the template's first
# version so that raising the cap is a bump: the service moves one, the template the other.
SERVICE_BUMP = ('"orjson>=3.10"', '"orjson>=3.10,<3.11"', '"orjson>=3.11"')
TEMPLATE_BUMP = ('"prometheus-client>=0.21"', '"prometheus-client>=0.21,<0.22"', '"prometheus-client>=0.22"')
LOCK = "{uv} pip compile -q --universal --generate-hashes --no-annotate pyproject.toml {group}-o {out}"


@pytest.mark.slow
def test_a_lock_file_conflict_is_resolved_by_locking_again_with_both_bumps(tmp_path: Path) -> None:
    template = tmp_path / "template"
    shutil.copytree(TEMPLATES_DIR / "python-service", template)
    init_repo(template)
    # uv comes from the dev lock of the template as it is.
    scratch = render_template(TEMPLATES_DIR / "python-service", tmp_path / "scratch", {"service_name": "x"})
    uv = str(service_venv(scratch / "pyproject.toml") / "bin" / "uv")

    _bump_template(template, scratch, uv, [SERVICE_BUMP[:2], TEMPLATE_BUMP[:2]])
    commit_all(template, "v1: orjson and prometheus-client capped")
    tag(template, "v1.0.0")

    made = svc("new", "billing", "-t", template, "-o", tmp_path / "out", "--defaults")
    assert made.exit_code == 0, made.output
    service = tmp_path / "out" / "billing"
    before = {lock: locked_pins(service / lock) for lock in LOCKS}  # template v1's pins
    (service / ".venv" / "bin").mkdir(parents=True)  # .venv/ is git-ignored, as a developer's is
    (service / ".venv" / "bin" / "uv").symlink_to(uv)

    # The service's bump: raise the requirement, lock again (the other pins stay), commit.
    _edit(service / "pyproject.toml", SERVICE_BUMP[1], SERVICE_BUMP[2])
    _lock(service, ".venv/bin/uv")
    commit_all(service, "orjson 3.11")
    # The template's bump, the same way.
    _bump_template(template, scratch, uv, [TEMPLATE_BUMP[1:]])
    commit_all(template, "v2: prometheus-client 0.22")
    tag(template, "v2.0.0")

    updated = svc("update", service)

    conflicted = git(service, "diff", "--name-only", "--diff-filter=U").split()
    assert "requirements.txt" in conflicted, updated.output
    # Resolve pyproject.toml (both raised requirements), then the README's command.
    pyproject = (service / "pyproject.toml").read_text()
    if "<<<<<<<" in pyproject:
        pyproject = re.sub(
            r"<<<<<<<[^\n]*\n(.*?)=======\n(.*?)>>>>>>>[^\n]*\n",
            lambda m: m.group(1).replace(TEMPLATE_BUMP[1], TEMPLATE_BUMP[2]),
            pyproject,
            flags=re.DOTALL,
        )
        (service / "pyproject.toml").write_text(pyproject)
    assert SERVICE_BUMP[2] in pyproject and TEMPLATE_BUMP[2] in pyproject
    run_checked(["sh", "-c", _documented_resolution(service / "README.md")], cwd=service)
    git(service, "commit", "-q", "--no-edit")

    for lock in LOCKS:
        pins = locked_pins(service / lock)
        text = (service / lock).read_text()
        assert "<<<<<<<" not in text and ">>>>>>>" not in text
        assert Version(pins["orjson"].version) >= Version("3.11") > Version(before[lock]["orjson"].version)
        assert Version(pins["prometheus-client"].version) >= Version("0.22")
        assert Version(before[lock]["prometheus-client"].version) < Version("0.22")
    assert git(service, "status", "--porcelain").strip() == ""


def _documented_resolution(readme: Path) -> str:
    """The README's shell block that resolves a lock file conflict (the one that locks with -U)."""
    blocks = re.findall(r"```sh\n(.*?)```", readme.read_text(), re.DOTALL)
    (block,) = [block for block in blocks if " -U " in block]
    return block


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def _lock(project: Path, uv: str) -> None:
    """Both lock files, as the README's "Dependencies" says (pins in the lock files stay)."""
    for group, out in (("", "requirements.txt"), ("--group dev ", "requirements-dev.txt")):
        run_checked(["sh", "-c", LOCK.format(uv=uv, group=group, out=out)], cwd=project)


def _bump_template(template: Path, scratch: Path, uv: str, edits: list[tuple[str, ...]]) -> None:
    """Change requirements in the template's pyproject.toml.jinja and lock again as a maintainer
    does: in a rendered service (`scratch`, given the same edits), lock files copied back."""
    for old, new in edits:
        _edit(template / "template" / "pyproject.toml.jinja", old, new)
        _edit(scratch / "pyproject.toml", old, new)
    for lock in LOCKS:
        shutil.copy(template / "template" / lock, scratch / lock)
    _lock(scratch, uv)
    for lock in LOCKS:
        shutil.copy(scratch / lock, template / "template" / lock)
