"""The layer manifest, `svc-template.yml`: what a template says of the template it extends.

A layer is an ordinary copier or cookiecutter template with a manifest, `svc-template.yml`,
at its root (the same file for either format, so a layer's format need not match its
base's):

    extends:                     # optional: the template this one is layered on
      source: builtin:python-service   # builtin:, a git URL, a path, or a configured name
      ref: "0.1.0"                # the version it is pinned to; releasing a layer that moves
                                  # this pin is how services take a new base version
    remove: ["docs/legacy/**"]   # base files the layer deletes (globs, service-relative)
    sample_answers: {team_channel: "#sample"}   # what `svc template test` answers
    test_command: "python -m pytest -q"          # run in the rendered project by `template test`

A relative `extends.source` path is read from the layer's own folder. A built-in base
follows the svc that runs (see sources.resolve), whatever version the layer pins.

This module reads manifests; `render.layers` resolves and renders a chain of layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import TemplateError

MANIFEST = "svc-template.yml"
_KEYS = {"extends", "remove", "sample_answers", "test_command"}


@dataclass(frozen=True)
class Extends:
    source: str
    ref: str | None = None


@dataclass(frozen=True)
class Manifest:
    """What `svc-template.yml` says; an empty manifest when the template has none."""

    extends: Extends | None = None
    remove: tuple[str, ...] = ()
    sample_answers: Mapping[str, Any] = field(default_factory=dict)
    test_command: str | None = None


def read_manifest(template_dir: Path, where: str) -> Manifest:
    """The manifest at `template_dir`; `where` names the template in messages."""
    path = template_dir / MANIFEST
    return parse_manifest(path.read_text(), where) if path.is_file() else Manifest()


def parse_manifest(text: str | None, where: str) -> Manifest:
    """Parse a manifest's text (None: the template has none); raise TemplateError when wrong."""
    if text is None:
        return Manifest()
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise TemplateError(f"{MANIFEST}{line} of {where} is not valid YAML; fix it.") from err
    if not isinstance(doc, dict) or set(doc) - _KEYS:
        extra = ", ".join(sorted(map(str, set(doc) - _KEYS))) if isinstance(doc, dict) else "not a mapping"
        raise TemplateError(
            f"{MANIFEST} of {where} has unknown keys ({extra}); use {', '.join(sorted(_KEYS))}."
        )
    return Manifest(
        extends=_extends(doc.get("extends"), where),
        remove=_strings(doc.get("remove") or [], "remove", where),
        sample_answers=_mapping(doc.get("sample_answers") or {}, where),
        test_command=_command(doc.get("test_command"), where),
    )


def _extends(value: Any, where: str) -> Extends | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Extends(value)
    if isinstance(value, dict) and isinstance(value.get("source"), str):
        ref = value.get("ref")
        return Extends(value["source"], None if ref is None else str(ref))
    raise TemplateError(
        f"{MANIFEST} of {where}: 'extends' needs a source, e.g. extends: {{source: SRC, ref: v1.0.0}}."
    )


def _strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TemplateError(f"{MANIFEST} of {where}: '{key}' must be a list of strings.")
    return tuple(value)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TemplateError(f"{MANIFEST} of {where}: 'sample_answers' must be a mapping of answers.")
    return {str(k): v for k, v in value.items()}


def _command(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TemplateError(f"{MANIFEST} of {where}: 'test_command' must be one shell command line.")
    return value
