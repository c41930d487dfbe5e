"""Rendering a template into a folder, whatever its format.

Two engines sit behind one function: copier (through `copier.run_copy`) and cookiecutter
(through its public generate functions). Neither engine's exception types leave this
package; they become TemplateError or UnsafeTemplateError.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import TemplateError

Format = Literal["copier", "cookiecutter"]
COPIER_FILES = ("copier.yml", "copier.yaml")
COOKIECUTTER_FILE = "cookiecutter.json"


@dataclass(frozen=True)
class RenderRequest:
    """What to render: the service's name, answers given or recorded, and the user's say."""

    service_name: str
    data: dict[str, Any] = field(default_factory=dict)
    interactive: bool = False
    trust: bool = False
    # Recorded in template-format files (copier's _src_path/_commit) instead of a temp path.
    source_location: str = ""
    source_ref: str | None = None
    # Defaults that replace the template's own (a layer above changed them); answers win.
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderResult:
    format: Format
    answers: dict[str, Any]


def detect(template_dir: Path) -> Format:
    """Which format the template at `template_dir` is in."""
    if any((template_dir / name).is_file() for name in COPIER_FILES):
        return "copier"
    if (template_dir / COOKIECUTTER_FILE).is_file():
        return "cookiecutter"
    raise TemplateError(f"{template_dir} is not a template: it has neither copier.yml nor cookiecutter.json.")


def render(template_dir: Path, dest: Path, request: RenderRequest) -> RenderResult:
    """Render the template into the empty folder `dest` and check what it wrote."""
    fmt = detect(template_dir)
    if fmt == "copier":
        from .copier_engine import render_copier

        answers = render_copier(template_dir, dest, request)
    else:
        from .cookiecutter_engine import render_cookiecutter

        answers = render_cookiecutter(template_dir, dest, request)
    drop_bytecode(dest)
    check_contained(dest)
    return RenderResult(fmt, answers)


def drop_bytecode(root: Path) -> None:
    """Remove what Python compiled: pip byte-compiles an installed template's modules, and
    copier forgets its default `_exclude` once a template sets `_subdirectory`."""
    for dirpath, dirnames, filenames in os.walk(root):
        if "__pycache__" in dirnames:
            dirnames.remove("__pycache__")
            shutil.rmtree(Path(dirpath) / "__pycache__")
        for name in filenames:
            if name.endswith((".pyc", ".pyo")):
                (Path(dirpath) / name).unlink()


def jinja_error(err: Exception) -> TemplateError:
    """A Jinja error as one sentence naming the file and line, when jinja knows them."""
    filename, lineno = getattr(err, "filename", None), getattr(err, "lineno", None)
    where = (f" in {filename}" if filename else "") + (f" line {lineno}" if lineno else "")
    reason = str(getattr(err, "message", None) or err).rstrip(".")
    return TemplateError(f"The template has a Jinja error{where}: {reason}.")


def check_contained(root: Path) -> None:
    """Refuse a render holding a link that leads outside it: a later write could escape."""
    root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise TemplateError(
                    f"The template made a link {path.relative_to(root)} that points outside "
                    "the service's folder; svc refuses such templates."
                )
