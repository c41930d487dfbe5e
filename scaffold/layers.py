"""Layered templates: a template that extends another, read from its manifest.

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

This module reads manifests and questions and resolves a chain of layers, base first;
`scaffold.layered` renders one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import sources
from .errors import ScaffoldError, SourceError, TemplateError
from .migrations import load_config

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


@dataclass(frozen=True)
class Question:
    """A template question, as far as layering cares: its type (normalised) and default."""

    name: str
    type: str | None
    default: Any = None


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


# --- questions -----------------------------------------------------------------------------


def questions(template_dir: Path) -> dict[str, Question]:
    """The questions a template asks, by name, in either format."""
    if (template_dir / "cookiecutter.json").is_file():
        return _cookiecutter_questions(template_dir / "cookiecutter.json")
    found = {}
    for name, spec in load_config(template_dir).items():
        if name.startswith("_"):
            continue
        if isinstance(spec, dict):
            default = spec.get("default")
            kind = spec.get("type") or _type_of(default)
        else:  # the short form `port: 8000` is a question with that default
            default, kind = spec, _type_of(spec)
        found[name] = Question(name, _normalised(kind), default)
    return found


def _cookiecutter_questions(path: Path) -> dict[str, Question]:
    try:
        spec = json.loads(path.read_text())
    except ValueError as err:
        raise TemplateError(f"{path} is not valid JSON: {err}.") from err
    found = {}
    for name, value in spec.items():
        if name.startswith("_"):
            continue
        # A list is a choice; its type is that of its first option.
        first = value[0] if isinstance(value, list) and value else value
        found[name] = Question(name, _normalised(_type_of(first)), first)
    return found


def _type_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "str"}.get(type(value), "yaml")


def _normalised(kind: Any) -> str | None:
    # copier's json and yaml types both hold structured data; telling them apart helps nobody.
    text = str(kind) if kind else None
    return "yaml" if text in ("json", "yaml", "dict", "list") else text


def refuse_type_clashes(names: Sequence[str], asked: Sequence[Mapping[str, Question]]) -> None:
    """A question two layers ask must have one type: a layer may change a default, not a type."""
    first: dict[str, tuple[str, str]] = {}
    for where, layer_questions in zip(names, asked, strict=True):
        for q in layer_questions.values():
            if q.type is None:
                continue
            seen = first.setdefault(q.name, (q.type, where))
            if seen[0] != q.type:
                raise TemplateError(
                    f"The question '{q.name}' has type {seen[0]} in {seen[1]} but {q.type} in {where}; "
                    "a layer may change a question's default, not its type."
                )


# --- chains --------------------------------------------------------------------------------


def resolve_chain(top: sources.Resolved) -> list[sources.Resolved]:
    """`top` and every template it extends, pinned, base first; refuse cycles and missing bases."""
    chain = [top]
    while True:
        current = chain[-1]
        manifest = parse_manifest(sources.read_text(current, MANIFEST), current.source.location)
        if manifest.extends is None:
            return chain[::-1]
        base = _resolve_base(current, manifest.extends)
        seen = [r.source.location for r in chain]
        if base.source.location in seen:
            loop = " -> ".join([*seen[seen.index(base.source.location) :], base.source.location])
            what = "extends itself" if base.source.location == current.source.location else "makes a cycle"
            raise TemplateError(
                f"The template {current.source.location} {what} ({loop}); fix its {MANIFEST}."
            )
        chain.append(base)


def _resolve_base(layer: sources.Resolved, extends: Extends) -> sources.Resolved:
    try:
        source = sources.parse(extends.source, cwd=_folder_of(layer.source, extends.source))
        # A built-in base is the running svc's own template: it cannot be pinned (contract).
        return sources.resolve(source, None if source.is_builtin else extends.ref)
    except ScaffoldError as err:
        raise SourceError(
            f"The template {layer.source.location} extends {extends.source}"
            f"{' at ' + extends.ref if extends.ref else ''}, which cannot be used: {err}"
        ) from err


def _folder_of(source: sources.TemplateSource, spec: str) -> Path | None:
    """Where a relative base path is read from: the layer's own folder, when it has one."""
    if not spec.startswith((".", "/", "~")) or source.is_builtin:
        return None
    if source.remote:
        if source.location.startswith("file://"):
            return Path(source.location[len("file://") :])
        raise SourceError(
            f"The template {source.location} extends the relative path {spec}, which means nothing "
            "for a remote repository; give the base as a URL."
        )
    return Path(source.location)
