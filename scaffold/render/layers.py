"""Layers: a chain of templates, each extending the one below, resolved and rendered into
one service folder.

A chain is resolved from its top: each template's manifest (`render.manifest`) names the
template it extends, pinned to a version, down to one that extends nothing.

The base renders first, straight into the destination; each layer above renders into a
folder of its own, removes the base files its manifest lists, and is copied over the
result, its files adding to or replacing what lies below. All layers share one set of
answers, decided in one place (`_layer_data`):

    -d values and recorded answers  >  defaults a layer above sets  >  the template's own

A one-layer chain is plain rendering, byte for byte what it was before layers existed.
"""

from __future__ import annotations

import contextlib
import difflib
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import __version__, provenance, sources
from ..errors import InputError, ScaffoldError, SourceError, TemplateError
from . import RenderResult, check_contained, render
from .engine import Question, RenderRequest, engine_for
from .manifest import MANIFEST, Extends, Manifest, parse_manifest, read_manifest


def render_chain(
    chain: Sequence[sources.Resolved],
    dest: Path,
    service_name: str,
    data: Mapping[str, Any],
    interactive: bool,
    trust: bool,
    given: Collection[str] = (),
    answers_file: str | None = None,
) -> provenance.Provenance:
    """Render `chain` (base first) into the empty folder `dest`; return its provenance.

    `given` names the answers the user gave (`-d`): each must be a question of some layer.
    `answers_file` is where the top layer's answers file goes, when not at its default path.
    """
    with contextlib.ExitStack() as stack:
        dirs = [stack.enter_context(sources.materialize(r)) for r in chain]
        where = [r.source.location for r in chain]
        manifests = [read_manifest(d, w) for d, w in zip(dirs, where, strict=True)]
        for template_dir, resolved in zip(dirs, chain, strict=True):
            engine_for(template_dir, where=_label(resolved))
        asked = [questions(d) for d in dirs]
        refuse_type_clashes(where, asked)
        refuse_unknown_answers(given, asked)
        if not interactive:
            refuse_unanswered(asked, {"service_name", *data})
        answers: dict[str, Any] = {}
        layers = []
        for index, resolved in enumerate(chain):
            request = RenderRequest(
                service_name=service_name,
                data=_layer_data(answers, data),
                interactive=interactive,
                trust=trust,
                source_location=resolved.source.location,
                source_ref=resolved.ref if resolved.commit else None,
                source_describe=sources.described(resolved),
                source_commit=resolved.commit,
                answers_file=answers_file if index == len(chain) - 1 else None,
                defaults=_upper_defaults(asked, index, {"service_name": service_name, **data}),
            )
            result = _render_one(dirs[index], dest, request, manifests[index], first=index == 0)
            answers.update(result.answers)
            top = index == len(chain) - 1
            layers.append(recorded_layer(resolved, result.format, answers_file if top else None))
        if len(chain) > 1:  # render() checked each layer's own output; the overlay is new
            check_contained(dest)
    return provenance.Provenance(tuple(layers), answers, __version__)


def _layer_data(answers: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """What a layer is told: the answers lower layers gave, under what the user gave or recorded."""
    return {**answers, **data}


def recorded_layer(resolved: sources.Resolved, fmt: str, answers_file: str | None = None) -> provenance.Layer:
    """What `.svc.yml` records of one rendered layer."""
    return provenance.Layer(
        source=resolved.source.location,
        format=fmt,
        ref=resolved.ref,
        commit=resolved.commit,
        version=resolved.version,
        answers_file=answers_file,
        directory=resolved.source.directory,
    )


def _render_one(
    template_dir: Path, dest: Path, request: RenderRequest, manifest: Manifest, first: bool
) -> RenderResult:
    """Render one layer: the base into `dest`, a layer above beside it and then over it."""
    if first:
        result = render(template_dir, dest, request)
        _drop_manifest(template_dir, dest)
        return result
    with tempfile.TemporaryDirectory(prefix="svc-layer-", dir=dest.parent) as tmp:
        out = Path(tmp) / "render"
        out.mkdir()
        result = render(template_dir, out, request)
        _drop_manifest(template_dir, out)
        _remove(dest, manifest.remove, request.source_location)
        _overlay(out, dest)
    return result


def _drop_manifest(template_dir: Path, out: Path) -> None:
    """A copier template without `_subdirectory` copies its manifest too; it is not the service's."""
    if (template_dir / MANIFEST).is_file():
        (out / MANIFEST).unlink(missing_ok=True)


def _remove(dest: Path, patterns: Sequence[str], where: str) -> None:
    for pattern in patterns:
        if pattern.startswith("/") or ".." in Path(pattern).parts:
            raise TemplateError(f"{MANIFEST} of {where} removes '{pattern}', outside the service; fix it.")
        for path in sorted(dest.glob(pattern), reverse=True):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def _overlay(src: Path, dest: Path) -> None:
    """Copy the layer's render over the result below: its files win, links stay links."""
    try:
        shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
    except (OSError, shutil.Error) as err:
        raise TemplateError(f"A layer's files cannot be laid over its base's: {err}") from err


def _upper_defaults(
    asked: Sequence[Mapping[str, Question]], index: int, context: Mapping[str, Any]
) -> dict[str, Any]:
    """Defaults that layers above `index` set for its questions; the topmost layer wins."""
    found: dict[str, Any] = {}
    for upper in asked[index + 1 :]:
        for name, q in upper.items():
            if name in asked[index] and q.default is not None:
                found[name] = q.default
    return {name: _rendered(name, value, context) for name, value in found.items()}


def _rendered(name: str, value: Any, context: Mapping[str, Any]) -> Any:
    """A Jinja default such as "{{ service_name }}-team", rendered as the template would."""
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    from jinja2 import StrictUndefined
    from jinja2 import TemplateError as JinjaError
    from jinja2.sandbox import SandboxedEnvironment

    try:
        return SandboxedEnvironment(undefined=StrictUndefined).from_string(value).render(**context)
    except JinjaError as err:
        raise TemplateError(
            f"A layer's default for '{name}' ({value}) cannot be worked out before its base renders "
            f"({err}); base it on service_name or answers given with -d."
        ) from err


def _label(resolved: sources.Resolved) -> str:
    at = resolved.ref or resolved.version
    return f"{resolved.source.location} at {at}" if at else resolved.source.location


def questions(template_dir: Path) -> dict[str, Question]:
    """The questions a template asks, by name, whatever its format."""
    return engine_for(template_dir).questions(template_dir)


def refuse_unknown_answers(given: Collection[str], asked: Sequence[Mapping[str, Question]]) -> None:
    """A `-d KEY` that no layer asks would be silently ignored: refuse it, suggesting the
    question it most likely meant."""
    known = sorted({name for layer_questions in asked for name in layer_questions})
    unknown = [key for key in given if key not in known]
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise InputError(
        f"-d {key}: the template asks no question '{key}'{hint}; its questions are {', '.join(known)}."
    )


def refuse_unanswered(asked: Sequence[Mapping[str, Question]], answered: Collection[str]) -> None:
    """A question with no default that nobody answers would be rendered empty: refuse it."""
    for layer_questions in asked:
        for q in layer_questions.values():
            if q.required and q.name not in answered:
                raise InputError(
                    f"The template asks '{q.name}', which has no default and no recorded answer; "
                    f"give it with -d {q.name}=VALUE (or answer it at a terminal without --defaults)."
                )


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


# --- chains ---------------------------------------------------------------------------------


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
