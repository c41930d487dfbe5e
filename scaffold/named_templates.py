"""The templates svc knows by name: the built-in ones and those configuration names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import __version__, config, sources
from .errors import ScaffoldError
from .render import engine_for
from .render.manifest import read_manifest


@dataclass(frozen=True)
class TemplateEntry:
    name: str
    source: str
    format: str
    newest_version: str | None
    extends: str | None = None
    # Why a configured template could not be read (unreachable, not a template); listed anyway.
    problem: str | None = None


def list_templates(cwd: Path | None = None) -> list[TemplateEntry]:
    """Built-in templates, then configured ones (the company's winning over the user's)."""
    root = sources.builtin_root()
    builtin = [
        TemplateEntry(
            name=sources.BUILTIN_PREFIX + name,
            source=str(root / name),
            format=engine_for(root / name).name,
            newest_version=__version__,
        )
        for name in sources.builtin_names()
    ]
    named = config.load(cwd).templates.values()
    return builtin + [_configured(entry, cwd) for entry in sorted(named, key=lambda e: e.name)]


def _configured(entry: config.NamedTemplate, cwd: Path | None) -> TemplateEntry:
    """One configured name, read at its newest release: format and what it extends."""
    try:
        source = sources.parse(entry.source, cwd)
        newest = sources.newest(source)
        with sources.materialize(newest) as template_dir:
            fmt = engine_for(template_dir).name
            manifest = read_manifest(template_dir, source.location)
    except ScaffoldError as err:
        return TemplateEntry(entry.name, entry.source, "-", None, problem=str(err))
    extends = None
    if manifest.extends is not None:
        extends = " ".join(filter(None, (manifest.extends.source, manifest.extends.ref)))
    return TemplateEntry(entry.name, source.location, fmt, newest.version, extends)
