"""Rendering templates into folders: formats, and layers of templates.

- `engine`: the seam every template format plugs into, and the table of formats;
  `copier_engine` and `cookiecutter_engine` are the two svc ships. No other module of svc
  names a format.
- `manifest`: `svc-template.yml`, what a layer says of the template it extends.
- `layers`: resolving a chain of layers and rendering it into one service folder.
- here: `render`, one template into one folder, whatever its format, and the checks
  every render passes (no link out of the folder, no bytecode).

No engine's exception type leaves this package; they become TemplateError or
UnsafeTemplateError.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import git
from ..errors import TemplateError
from ..sources import escaping_links
from .cookiecutter_engine import COOKIECUTTER
from .copier_engine import COPIER
from .engine import (
    ENGINES,
    Engine,
    Question,
    RenderRequest,
    answers_files,
    engine_for,
    engine_named,
    register,
)

register(COPIER)
register(COOKIECUTTER)

__all__ = [
    "ENGINES",
    "Engine",
    "Question",
    "RenderRequest",
    "RenderResult",
    "answers_files",
    "check_contained",
    "engine_for",
    "engine_named",
    "register",
    "render",
]


@dataclass(frozen=True)
class RenderResult:
    format: str
    answers: dict[str, Any]


def render(template_dir: Path, dest: Path, request: RenderRequest) -> RenderResult:
    """Render the template into the empty folder `dest` and check what it wrote."""
    engine = engine_for(template_dir)
    answers = engine.render(template_dir, dest, request)
    drop_bytecode(dest)
    check_contained(dest)
    return RenderResult(engine.name, answers)


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


def check_contained(root: Path) -> None:
    """Refuse a render whose files hold a link that leads outside it: a later write could
    escape. What the render's own `.gitignore` ignores is no part of the service (a trusted
    hook's virtualenv links to the system Python), so it is not looked at."""
    found = list(escaping_links(root))
    # Asking git what is ignored costs two processes: only when there is a link to excuse.
    committed = set(git.committed_files(root)) if found else set()
    for rel in (rel for rel in found if str(rel) in committed):
        raise TemplateError(
            f"The template made a link {rel} that points outside the service's folder; "
            "svc refuses such templates."
        )
