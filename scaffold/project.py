"""A service folder as svc reads it: what made it, from `.svc.yml` or, in a project that a
format's own tool made (plain copier, cruft), from that tool's answers file."""

from __future__ import annotations

from pathlib import Path

from . import provenance
from .errors import ProvenanceError
from .render import ENGINES, answers_files


def load_provenance(root: Path, answers_file: str | None = None) -> provenance.Provenance:
    """The service's provenance, from `.svc.yml` or an answers file a format's tool wrote
    (`answers_file` names it where it is not at its default path)."""
    path = root / provenance.FILENAME
    if path.is_file():
        return provenance.parse(path.read_text(), str(path))
    for engine in ENGINES.values():
        found = engine.import_project(root, answers_file)
        if found is not None:
            return found
    raise ProvenanceError(
        f"{root} has no {provenance.FILENAME} (nor a copier or cruft answers file), so svc does not "
        "know which template made it; is this a service folder?"
    )


def record_files() -> tuple[str, ...]:
    """The files that say what made a service: `.svc.yml`, and the formats' answers files."""
    return (provenance.FILENAME, *answers_files())


def has_record(path: Path, answers_file: str | None = None) -> bool:
    """Whether something at `path` says what made it (`answers_file`: the answers file the
    user named, wherever it is in the project)."""
    if any((path / name).is_file() for name in record_files()):
        return True
    try:
        return any(engine.import_project(path, answers_file) is not None for engine in ENGINES.values())
    except ProvenanceError:
        return True  # a record is there, if one svc cannot take as it is
