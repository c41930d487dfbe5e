"""The provenance file `.svc.yml`: which templates made a service, and with which answers.

It is parsed once, at the edge, into frozen dataclasses. Projects made by a format's own
tool (plain copier, cruft) have no `.svc.yml`; their engines read their answers files into
the same shape (see `scaffold.project`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .errors import ProvenanceError

FILENAME = ".svc.yml"
SCHEMA_VERSION = 1
# How an older `.svc.yml` is read: UPGRADES[n] takes a document of schema n and returns it
# in schema n + 1. A change that only adds keys needs none (unknown keys are kept); one
# that renames or reshapes a key raises SCHEMA_VERSION and adds its step here.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
_HEADER = (
    "# Written by svc: the templates this service was made from and the answers given.\n"
    "# `svc update` reads and rewrites it; change answers with `svc update -d KEY=VALUE`.\n"
)


@dataclass(frozen=True)
class Layer:
    """One template the service is made of, pinned to a version."""

    source: str
    format: str
    ref: str | None = None
    commit: str | None = None
    version: str | None = None
    # Where the format's answers file is, when not at its default path (copier's `-a`).
    answers_file: str | None = None
    # The folder of the source's repository that holds the template (--directory).
    directory: str | None = None
    # Keys a newer svc wrote that this one does not know: kept when rewritten, never read.
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        shown = self.version or (self.ref and version_label(self.ref)) or self.commit or "(unversioned)"
        return f"{self.source} {shown}"


def version_label(tag: str) -> str:
    """A release tag as svc shows a version: as written (2026.03.02 stays so), less the
    customary "v", so a service svc made and one it took over read alike."""
    return tag[1:] if tag[:1] in "vV" and tag[1:2].isdigit() else tag


@dataclass(frozen=True)
class Provenance:
    layers: tuple[Layer, ...]
    answers: dict[str, Any] = field(default_factory=dict)
    svc_version: str = __version__
    schema_version: int = SCHEMA_VERSION
    # Which file it was read from: ".svc.yml", or a copier/cruft answers file.
    origin: str = FILENAME
    unknown: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def service_name(self) -> str:
        return str(self.answers.get("service_name") or self.answers.get("project_slug") or "")

    def with_answers(self, answers: dict[str, Any]) -> Provenance:
        return replace(self, answers=dict(answers))

    def to_yaml(self) -> str:
        doc = {
            **self.unknown,
            "schema_version": self.schema_version,
            "svc_version": self.svc_version,
            "layers": [layer_doc(layer) for layer in self.layers],
            "answers": self.answers,
        }
        return _HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


_LAYER_KEYS = tuple(f.name for f in fields(Layer) if f.name != "unknown")
_TOP_KEYS = ("schema_version", "svc_version", "layers", "answers")


def layer_doc(layer: Layer) -> dict[str, Any]:
    known = {key: getattr(layer, key) for key in _LAYER_KEYS}
    return {**{k: v for k, v in known.items() if v is not None}, **layer.unknown}


def carry_unknown(new: Provenance, old: Provenance) -> Provenance:
    """`new` with the keys a newer svc wrote into `old` (top level and per layer) kept."""
    by_source = {layer.source: layer.unknown for layer in old.layers}
    layers = tuple(replace(layer, unknown=by_source.get(layer.source, {})) for layer in new.layers)
    return replace(new, layers=layers, unknown=old.unknown)


def save(root: Path, prov: Provenance) -> None:
    """Write `.svc.yml` atomically (temp file, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".svc.yml.")
    with os.fdopen(fd, "w") as handle:
        handle.write(prov.to_yaml())
    # mkstemp makes the file private; the provenance file is as readable as any other.
    umask = os.umask(0)
    os.umask(umask)
    Path(tmp).chmod(0o666 & ~umask)
    Path(tmp).replace(root / FILENAME)


def parse(text: str, where: str) -> Provenance:
    """Parse `.svc.yml` text; raise ProvenanceError naming `where` when it is not valid."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ProvenanceError(
            f"{where} is not valid YAML ({yaml_problem(err)}); restore it with 'git checkout -- {FILENAME}'."
        ) from err
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list) or not doc["layers"]:
        raise ProvenanceError(
            f"{where} has no template layers; restore it with 'git checkout -- {FILENAME}'."
        )
    doc = _upgraded(doc, where)
    layers = tuple(_layer(layer, where) for layer in doc["layers"])
    answers = doc.get("answers") or {}
    if not isinstance(answers, dict):
        raise ProvenanceError(f"{where}: 'answers' must be a mapping.")
    unknown = {k: v for k, v in doc.items() if k not in _TOP_KEYS}
    return Provenance(layers, answers, str(doc.get("svc_version", "")), SCHEMA_VERSION, unknown=unknown)


def yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error in one line: where, and what (PyYAML's own text spans several)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)


def _upgraded(doc: dict[str, Any], where: str) -> dict[str, Any]:
    """`doc` in the current schema, through each step of UPGRADES from its own."""
    version = doc.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ProvenanceError(
            f"{where} has schema version {version!r}, which this svc ({__version__}) does not know; "
            "upgrade svc."
        )
    while version < SCHEMA_VERSION:
        if version not in UPGRADES:
            raise ProvenanceError(
                f"{where} has schema version {version}, older than any this svc ({__version__}) "
                "can read; update the service with the svc that wrote it first."
            )
        doc = {**UPGRADES[version](doc), "schema_version": version + 1}
        version += 1
    return doc


def _layer(entry: object, where: str) -> Layer:
    """One recorded layer; YAML may have read a version such as 1.0 as a number. Keys a
    newer svc added are kept aside, so this svc can still update the service."""
    if not isinstance(entry, dict) or not entry.get("source") or not entry.get("format"):
        raise ProvenanceError(
            f"{where} has a malformed layer (each needs a source and a format); "
            f"restore it with 'git checkout -- {FILENAME}'."
        )
    known: dict[str, Any] = {k: None if v is None else str(v) for k, v in entry.items() if k in _LAYER_KEYS}
    return Layer(**known, unknown={k: v for k, v in entry.items() if k not in _LAYER_KEYS})


def absolute_source(src: str, project: Path) -> str:
    """copier and cruft record a local template path as typed, relative to wherever they ran;
    the project's parent folder is the likeliest place (copier itself just fails)."""
    if "://" in src or "@" in src.split("/")[0] or src.startswith(("/", "~", "gh:", "gl:")):
        return src
    for base in (project.parent, project):
        candidate = (base / src).resolve()
        if candidate.exists():
            return str(candidate)
    return src
