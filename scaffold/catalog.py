"""The templates svc knows by name: the built-in ones (configured names come later)."""

from __future__ import annotations

from dataclasses import dataclass

from . import __version__, sources
from .render import detect


@dataclass(frozen=True)
class TemplateEntry:
    name: str
    source: str
    format: str
    newest_version: str | None
    extends: str | None = None


def list_templates() -> list[TemplateEntry]:
    root = sources.builtin_root()
    return [
        TemplateEntry(
            name=sources.BUILTIN_PREFIX + name,
            source=str(root / name),
            format=detect(root / name),
            newest_version=__version__,
        )
        for name in sources.builtin_names()
    ]
