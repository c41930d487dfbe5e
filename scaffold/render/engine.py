"""The template-format seam: what svc needs of a format, and the table of formats it knows.

Each format is one engine module in this package (`copier_engine`, `cookiecutter_engine`)
holding one object that satisfies `Engine`, registered in `ENGINES` by `render/__init__.py`.
Nothing outside this package names a format: it asks the table. A new format is one module
and one `register` call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import TemplateError
from ..migrations import Migration
from ..provenance import Layer, Provenance


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
    # `git describe` of the template's commit, which copier records as `_commit`.
    source_describe: str | None = None
    # The template's commit, which cruft records as `_commit`.
    source_commit: str | None = None
    # Defaults that replace the template's own (a layer above changed them); answers win.
    defaults: dict[str, Any] = field(default_factory=dict)
    # Where to write the format's answers file, when not at the template's own path.
    answers_file: str | None = None


@dataclass(frozen=True)
class Question:
    """A template question, as far as layering cares: its type (normalised) and default."""

    name: str
    type: str | None
    default: Any = None
    # It has no default (and no condition): without a prompt, only an answer can fill it.
    required: bool = False


class Engine(Protocol):
    """One template format."""

    # The format's name, as `.svc.yml` records it.
    name: str
    # Files whose presence at a template's root makes it one of this format; the first is
    # the one messages name ("copier.yml").
    markers: tuple[str, ...]
    # Where the format's own tool keeps a generated project's answers (None: nowhere).
    answers_file: str | None

    def detect(self, template_dir: Path) -> bool:
        """Whether the template at `template_dir` is in this format."""
        ...

    def questions(self, template_dir: Path) -> dict[str, Question]:
        """The questions the template asks, by name."""
        ...

    def render(self, template_dir: Path, dest: Path, request: RenderRequest) -> dict[str, Any]:
        """Render into the empty folder `dest`; return the answers to record (no secrets)."""
        ...

    def import_project(self, root: Path, answers_file: str | None = None) -> Provenance | None:
        """The provenance of a project that the format's own tool made, if `root` is one;
        `answers_file` names its answers file where it is not at the default path."""
        ...

    def answers_file_after_update(
        self, ours: str | None, theirs: str | None, layer: Layer, answers: Mapping[str, Any]
    ) -> str | None:
        """The answers file once an update to `layer` is merged, given the service's (`ours`)
        and the target render's (`theirs`); None leaves the merged file as it is."""
        ...

    def migrations(
        self, template_dir: Path, before: Layer, after: Layer, answers: Mapping[str, Any]
    ) -> list[Migration]:
        """What the template asks to run when a service moves from `before` to `after`."""
        ...


ENGINES: dict[str, Engine] = {}


def register(engine: Engine) -> Engine:
    ENGINES[engine.name] = engine
    return engine


def engine_for(template_dir: Path, where: str | None = None) -> Engine:
    """The engine of the template at `template_dir` (formats are tried in table order);
    `where` names it in messages when `template_dir` is svc's temporary copy of it."""
    for engine in ENGINES.values():
        if engine.detect(template_dir):
            return engine
    markers = " nor ".join(engine.markers[0] for engine in ENGINES.values())
    raise TemplateError(f"{where or template_dir} is not a template: it has neither {markers}.")


def template_markers() -> tuple[str, ...]:
    """Every file whose presence at a folder's root makes it a template of some format."""
    return tuple(marker for engine in ENGINES.values() for marker in engine.markers)


def engine_named(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        known = ", ".join(ENGINES)
        raise TemplateError(
            f"The template format '{name}' is unknown to this svc (it knows {known}); upgrade svc."
        ) from None


def answers_files() -> tuple[str, ...]:
    """Every file a format's own tool keeps answers in."""
    return tuple(e.answers_file for e in ENGINES.values() if e.answers_file)


def jinja_error(err: Exception, template_dir: Path) -> TemplateError:
    """A Jinja error as one sentence naming the file (within the template: svc's copy of it is
    a temporary folder) and line, when jinja knows them."""
    filename, lineno = getattr(err, "filename", None), getattr(err, "lineno", None)
    if filename and Path(filename).is_relative_to(template_dir):
        filename = str(Path(filename).relative_to(template_dir))
    where = (f" in {filename}" if filename else "") + (f" line {lineno}" if lineno else "")
    reason = str(getattr(err, "message", None) or err).rstrip(".")
    return TemplateError(f"The template has a Jinja error{where}: {reason}.")


def first_line(err: BaseException) -> str:
    """An engine's message in one line: the rest is advice for the engine's own command line."""
    text = str(err).strip()
    return text.splitlines()[0].rstrip(".") if text else type(err).__name__


def type_of(value: Any) -> str | None:
    """A question's type, from its default, in the names copier uses."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "str"}.get(type(value), "yaml")


def normalised_type(kind: Any) -> str | None:
    # copier's json and yaml types both hold structured data; telling them apart helps nobody.
    text = str(kind) if kind else None
    return "yaml" if text in ("json", "yaml", "dict", "list") else text
