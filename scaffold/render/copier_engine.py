"""The copier format: rendering through copier's public `run_copy`, its questions, its
answers file, projects made by plain `copier copy`, and its `_migrations`.

svc renders through `run_copy`, which never runs migrations, so svc honours them itself,
the way copier's own update does: a migration runs when the old version is below its
`version` and the new one at or above it (PEP 440), in the order the template lists them,
with copier's variables (`_stage`, `_version_from`, ...) in its Jinja and environment
(`STAGE`, `VERSION_FROM`, ...). Migrations run code, so only with `--trust`. svc's update
is one merge, so there is one moment to run them: after the merge, copier's "after" stage
(its default); one whose `when` holds in both stages runs once, there. A migration meant
only for the "before" stage cannot be honoured; svc refuses the update and says so.

What svc needs beyond copier's public API sits in one place, at the end of this module,
each use covered by tests/test_engine_internals.py.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .. import provenance, sources
from ..errors import ProvenanceError, TemplateError, UnsafeTemplateError
from ..migrations import Migration, render_text, true_in
from ..provenance import Layer, Provenance
from .engine import Question, RenderRequest, first_line, jinja_error, normalised_type, type_of

CONFIG_FILES = ("copier.yml", "copier.yaml")
ANSWERS_FILE = ".copier-answers.yml"


class CopierEngine:
    name = "copier"
    markers: tuple[str, ...] = CONFIG_FILES
    answers_file: str | None = ANSWERS_FILE

    def detect(self, template_dir: Path) -> bool:
        return any((template_dir / name).is_file() for name in CONFIG_FILES)

    def questions(self, template_dir: Path) -> dict[str, Question]:
        found = {}
        for name, spec in load_config(template_dir).items():
            if name.startswith("_"):
                continue
            required = False
            if isinstance(spec, dict):
                default = spec.get("default")
                kind = spec.get("type") or type_of(default)
                required = "default" not in spec and "when" not in spec
            else:  # the short form `port: 8000` is a question with that default
                default, kind = spec, type_of(spec)
            found[name] = Question(name, normalised_type(kind), default, required)
        return found

    def render(self, template_dir: Path, dest: Path, request: RenderRequest) -> dict[str, Any]:
        import_copier()
        from copier.errors import CopierAnswersInterrupt, CopierError
        from copier.errors import UnsafeTemplateError as CopierUnsafe
        from jinja2 import TemplateError as JinjaError

        data = {"service_name": request.service_name, **request.data}
        try:
            worker = run_copy(
                str(template_dir),
                dest,
                data=data,
                defaults=not request.interactive,
                user_defaults=request.defaults,
                unsafe=request.trust,
                answers_file=Path(request.answers_file) if request.answers_file else None,
                quiet=True,
                overwrite=True,
            )
        except CopierAnswersInterrupt:
            raise KeyboardInterrupt from None  # Ctrl-C at a question: svc's own Ctrl-C, exit 130
        except CopierUnsafe as err:
            raise UnsafeTemplateError(
                f"The template runs code on your machine ({unsafe_features(err)}); "
                "read it, then pass --trust if you trust it."
            ) from err
        except JinjaError as err:
            raise jinja_error(err, template_dir) from err
        except ValueError as err:
            raise TemplateError(_answer_message(err, self.questions(template_dir), request.data)) from err
        except (CopierError, OSError, KeyError, TypeError) as err:
            raise TemplateError(f"The template cannot be rendered: {first_line(err)}") from err
        recorded = answers_to_record(worker)
        _fix_answers_file(dest / answers_relpath(worker), request)
        return recorded

    def import_project(self, root: Path, answers_file: str | None = None) -> Provenance | None:
        path = _answers_file_of(root, answers_file)
        if path is None:
            return None
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ProvenanceError(f"{path} is not valid YAML ({err}).") from err
        if not isinstance(doc, dict) or not doc.get("_src_path"):
            raise ProvenanceError(f"{path} does not say which template made the project (_src_path).")
        answers = {k: v for k, v in doc.items() if not k.startswith("_")}
        ref = doc.get("_commit")
        rel = str(path.relative_to(root))
        layer = Layer(
            source=provenance.absolute_source(str(doc["_src_path"]), root),
            format=self.name,
            ref=str(ref) if ref else None,
            answers_file=None if rel == ANSWERS_FILE else rel,
        )
        return Provenance((layer,), answers, origin=rel)

    def answers_file_after_update(
        self, ours: str | None, theirs: str | None, layer: Layer, answers: Mapping[str, Any]
    ) -> str | None:
        # The template renders its own answers file: the target's is the truth.
        return theirs

    def migrations(
        self, template_dir: Path, before: Layer, after: Layer, answers: Mapping[str, Any]
    ) -> list[Migration]:
        return pending(load_config(template_dir), before, after, answers)


def _answers_file_of(root: Path, given: str | None) -> Path | None:
    """The answers file of a project plain copier made: the one named, the default, or the
    only `.copier-answers*.yml` there is (several: the user must say which)."""
    if given:
        path = (root / given).resolve()
        if not path.is_file() or not path.is_relative_to(root.resolve()):
            raise ProvenanceError(
                f"There is no answers file {given} in {root}; give its path within the project."
            )
        return path
    if (root / ANSWERS_FILE).is_file():
        return root / ANSWERS_FILE
    found = sorted(p for p in root.glob(".copier-answers*.y*ml") if p.is_file())
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ProvenanceError(
            f"{root} has several copier answers files ({names}); name the one to update with --answers-file."
        )
    return found[0] if found else None


def load_config(template_dir: Path) -> dict[str, Any]:
    """copier.yml as copier reads it: `!include`s resolved, multiple documents merged, so
    that code a template runs (`_tasks`, `_migrations`, ...) is found wherever it is written."""
    for name in CONFIG_FILES:
        path = template_dir / name
        if path.is_file():
            return _config_once(template_dir, functools.partial(read_copier_config, path))
    return {}


# copier.yml of template folders that never change, read once per process: a fleet's worker
# (and copier itself, through svc's Template) read it three times for every service.
_UNCHANGING_CONFIGS: dict[Path, dict[str, Any]] = {}


def _config_once(folder: Path, read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if not sources.unchanging(folder):
        return read()
    if folder not in _UNCHANGING_CONFIGS:
        _UNCHANGING_CONFIGS[folder] = read()
    return copy.deepcopy(_UNCHANGING_CONFIGS[folder])


def pending(
    config: Mapping[str, Any], before: Layer, after: Layer, context: Mapping[str, Any]
) -> list[Migration]:
    """The migrations a move from layer `before` to `after` must run, rendered."""
    from packaging.version import InvalidVersion, Version

    entries = config.get("_migrations") or []
    if not entries:
        return []
    try:
        start, end = Version(before.version or ""), Version(after.version or "")
    except InvalidVersion:
        return []  # copier, too, runs migrations only between two release versions
    found: list[Migration] = []
    for entry in entries:
        spec = entry if isinstance(entry, dict) else {"command": entry}
        if "before" in spec or "after" in spec:
            raise TemplateError(
                "The template uses copier's old _migrations format (before/after "
                "lists), which svc does not run; update it with 'copier update'."
            )
        variables = _variables(before, after, spec.get("version"))
        if "version" in spec and not start < Version(str(spec["version"])) <= end:
            continue
        ctx = {**context, **variables, "_copier_operation": "update"}
        condition = spec.get("when", '{{ _stage == "after" }}')
        runs_after = true_in(condition, {**ctx, "_stage": "after"})
        if not runs_after and true_in(condition, {**ctx, "_stage": "before"}):
            raise TemplateError(
                f"The template has a migration for copier's 'before' stage ({spec['command']}); "
                "svc runs migrations only after its merge, so update this project once with "
                "'copier update'."
            )
        if not runs_after:
            continue
        stage = {**ctx, "_stage": "after"}
        found.append(
            Migration(
                _render_command(spec["command"], stage),
                render_text(str(spec.get("working_directory", ".")), stage),
                {**{k: str(v) for k, v in variables.items()}, "_stage": "after"},
            )
        )
    return found


def _variables(before: Layer, after: Layer, current: Any) -> dict[str, Any]:
    # As copier: the refs (tags, as git describes them) and their PEP 440 versions.
    found = {
        "_version_from": before.ref or before.version,
        "_version_to": after.ref or after.version,
        "_version_pep440_from": _pep440(before.version),
        "_version_pep440_to": _pep440(after.version),
    }
    if current is not None:
        found |= {"_version_current": str(current), "_version_pep440_current": str(current)}
    return found


def _pep440(version: str | None) -> str | None:
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(version or ""))
    except InvalidVersion:
        return version


def _render_command(command: Any, context: Mapping[str, Any]) -> str | tuple[str, ...]:
    if isinstance(command, list):
        return tuple(render_text(str(part), context) for part in command)
    return render_text(str(command), context)


_TYPES = {"int": (int, "a whole number"), "float": (float, "a number"), "bool": (None, "true or false")}


def _answer_message(err: ValueError, asked: Mapping[str, Question], given: Mapping[str, Any]) -> str:
    """Name the answer that copier could not take (its own message names only the value)."""
    for key, value in given.items():
        question = asked.get(key)
        if question is None or question.type not in _TYPES:
            continue
        cast, described = _TYPES[question.type]
        if not _fits(value, cast):
            example = question.default if question.default is not None else 1
            return f"-d {key}={value}: '{key}' takes {described}; give e.g. -d {key}={example}."
    text = first_line(err)
    if text.startswith("Validation error for question"):
        return text.rstrip(".") + "; give a valid value with -d KEY=VALUE."
    return f"An answer is invalid: {text}; give a valid value with -d KEY=VALUE."


def _fits(value: Any, cast: Any) -> bool:
    if cast is None:
        return str(value).strip().lower() in ("true", "false", "yes", "no", "on", "off", "1", "0", "y", "n")
    try:
        cast(value)
    except (TypeError, ValueError):
        return False
    return True


def _fix_answers_file(path: Path, request: RenderRequest) -> None:
    """Make copier's answers file name the real source, as if copier had cloned it itself.

    svc hands copier a plain folder (its own checkout), so copier recorded that temporary
    path and no commit; plain `copier update` needs the real ones. The file is edited, not
    rewritten: whatever form the template gave it (YAML, JSON, a trailing blank line) stays.
    """
    if not path.is_file() or not request.source_location:
        return
    text = path.read_text()
    try:
        recorded = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # not a file svc can read: leave it as the template made it
    if not isinstance(recorded, dict) or "_src_path" not in recorded:
        return
    if text.lstrip().startswith("{"):
        path.write_text(_as_json(text, recorded, request))
        return
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("_commit:"):
            lines[i] = ""  # written again just before _src_path, where copier puts it
        elif line.startswith("_src_path:"):
            lines[i] = "".join(yaml.safe_dump({k: v}, width=10_000) for k, v in _source_entries(request))
    path.write_text("".join(lines))


def _as_json(text: str, recorded: dict[str, Any], request: RenderRequest) -> str:
    """A JSON answers file with the real source, in the layout the template gave it."""
    others = {k: v for k, v in recorded.items() if k not in ("_commit", "_src_path")}
    doc = {**dict(_source_entries(request)), **others}
    indent = 2 if "\n " in text.strip() else None
    trailing = text[len(text.rstrip()) :]
    return json.dumps(doc, indent=indent, ensure_ascii=False) + trailing


def _source_entries(request: RenderRequest) -> list[tuple[str, Any]]:
    """`_commit` (for a template in git) and `_src_path`, in copier's order."""
    label = request.source_describe or request.source_ref
    commit = [("_commit", label)] if label else []
    return [*commit, ("_src_path", request.source_location)]


COPIER = CopierEngine()


# --- copier internals svc relies on ----------------------------------------------------------
# run_copy returns copier's Worker, whose public API does not say which answers were given
# to which question, nor where the answers file went; copier's unsafe-template error names
# the features it found only in its message; copier reads copier.yml (`!include`, several
# documents) with a private function; svc renders through a Worker of its own that drops
# costs per file (below); and svc imports copier without its prompt stack until a prompt is
# shown. tests/test_engine_internals.py fails loudly when a copier release changes any of these.

# What copier's modules import, when they are imported, from the libraries that only show
# prompts (questionary, prompt_toolkit, pygments' lexers for the YAML and JSON editors).
_PROMPT_NAMES = {
    "questionary": ("confirm", "unsafe_prompt"),
    "prompt_toolkit.lexers": ("PygmentsLexer",),
    "pygments.lexers.data": ("JsonLexer", "YamlLexer"),
}


class _Choice:
    """questionary's Choice as copier uses it, without questionary: copier makes one for every
    choice of every question, even when no prompt is shown, and then reads only these
    attributes (set as questionary's own __init__ sets them). A prompt gets real ones."""

    def __init__(
        self,
        title: Any,
        value: Any = None,
        disabled: str | None = None,
        checked: bool | None = False,
        shortcut_key: str | bool | None = True,
        description: str | None = None,
    ) -> None:
        self.title, self.disabled, self.description = title, disabled, description
        self.checked = checked if checked is not None else False
        if value is not None:
            self.value = value
        elif isinstance(title, list):  # prompt_toolkit's formatted text: (style, text) pairs
            self.value = "".join(token[1] for token in title)
        else:
            self.value = title
        self._shortcut_key = shortcut_key
        self._real: Any = None

    def real(self) -> Any:
        """The questionary Choice, one per stand-in: a prompt finds its default among its
        choices by identity."""
        if self._real is None:
            from questionary import Choice

            made = (self.title, self.value, self.disabled, self.checked, self._shortcut_key, self.description)
            self._real = Choice(*made)
        return self._real


class _Deferred:
    """A name copier imports from its prompt stack, imported for real on its first call."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def real(self) -> Any:
        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # PygmentsLexer(YamlLexer): an argument may be deferred too; a prompt's choices are ours.
        return self.real()(*_real(args), **_real(kwargs))


def _real(value: Any) -> Any:
    """`value` with every stand-in in it (in lists, tuples and dicts) replaced by the real thing."""
    if isinstance(value, _Deferred | _Choice):
        return value.real()
    if isinstance(value, list | tuple):
        return type(value)(_real(item) for item in value)
    if isinstance(value, dict):
        return {key: _real(item) for key, item in value.items()}
    return value


@functools.cache
def import_copier() -> None:
    """Import copier with its prompt stack deferred: most svc commands never prompt, and
    questionary with prompt_toolkit is a fifth of copier's import time. Modules already
    imported for real are left as they are; the stand-ins leave `sys.modules` at once, so any
    later import of those libraries gets the real ones."""
    stand_ins = {}
    for module, names in _PROMPT_NAMES.items():
        if module not in sys.modules:
            stand_in = types.ModuleType(module)
            for name in names:
                setattr(stand_in, name, _Deferred(module, name))
            stand_ins[module] = stand_in
    if "questionary" in stand_ins:  # copier imports Choice from questionary's inner module
        choices = stand_ins["questionary.prompts.common"] = types.ModuleType("questionary.prompts.common")
        choices.Choice = _Choice  # type: ignore[attr-defined]
    sys.modules.update(stand_ins)
    try:
        importlib.import_module("copier._main")
    finally:
        for module, stand_in in stand_ins.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]


def run_copy(src_path: str, dst_path: Path, **options: Any) -> Any:
    """copier's `run_copy` (same arguments, same Worker defaults), on svc's Worker."""
    with _worker_class()(src_path=src_path, dst_path=dst_path, **options) as worker:
        worker.run_copy()
    return worker


@functools.cache
def _worker_class() -> type:
    """copier's Worker, made cheap for svc's renders (the output is byte for byte the same).

    - Per rendered file copier asks git for `core.fileMode` of the destination's repository,
      to copy an executable bit into its index when git ignores modes. svc renders into an
      empty folder that is no repository and records modes through an index of its own, so
      that subprocess (a thousand of them for a thousand files) can only ever find nothing.
    - copier compiles every part of every path, and most parts hold no Jinja at all; a part
      with none of the environment's markers renders as itself. The same holds for the answers
      file's path, which copier renders again for every path of the template.
    - copier asks git whether the template folder is a repository (it never is: svc checks
      templates out itself), and a fleet's worker read the same copier.yml for every service.
    - Templates are compiled once per machine: copier's Jinja environment gets svc's cache of
      compiled templates (compiled_cache.py), for the files and for the strings copier
      compiles again and again (path parts, questions' defaults and validators).
    """
    import_copier()
    from copier._jinja_ext import get_yield_context
    from copier._main import Worker
    from copier._template import Template

    from . import compiled_cache

    class SvcTemplate(Template):
        @functools.cached_property
        def vcs(self) -> None:
            # svc hands copier a plain folder (a kept checkout, a copy, the built-in template),
            # never a repository: asking git (twice) whether it is one is no use.
            return None

        @functools.cached_property
        def _raw_config(self) -> dict[str, Any]:
            return _config_once(Path(self.local_abspath), lambda: super(SvcTemplate, self)._raw_config)

    class SvcWorker(Worker):
        @functools.cached_property
        def template(self) -> Template:
            # copier's, with svc's Template (svc always names the template's folder).
            assert self.src_path is not None
            result = SvcTemplate(self.src_path, self.resolved_vcs_ref, self.use_prereleases)
            self._cleanup_hooks.append(result._cleanup)
            return result

        @functools.cached_property
        def jinja_env(self) -> Any:
            env = super().jinja_env
            extensions = list(self.template.jinja_extensions)
            cache = compiled_cache.attach(env, Path(self.template.local_abspath), extensions)
            compiled_cache.compile_strings_once(env, cache)
            return env

        def run_copy(self) -> None:
            super().run_copy()
            compiled_cache.save(self.jinja_env)

        def _sync_git_index_executable_bit(self, dst_relpath: Path, src_mode: int) -> None:
            return None

        @property
        def answers_relpath(self) -> Path:
            path = str(self.answers_file or self.template.answers_relpath)
            return Path(path) if _plain(path, self.jinja_env) else Path(super().answers_relpath)

        def _render_string(self, string: str, extra_context: dict[str, Any] | None = None) -> str:
            _forget_yield(self.jinja_env)
            if _plain(string, self.jinja_env):
                return string
            return str(super()._render_string(string, extra_context))

        def _render_file(
            self, src_relpath: Path, dst_relpath: Path, extra_context: dict[str, Any] | None = None
        ) -> None:
            # A file may not yield; what the path's yield left must not count as the file's.
            _forget_yield(self.jinja_env)
            super()._render_file(src_relpath, dst_relpath, extra_context)

    def _forget_yield(env: Any) -> None:
        # copier's yield extension forgets the last yield when it compiles; a render whose
        # template was compiled before (or is plain text) must forget it too.
        yielded = get_yield_context(env)
        yielded.yield_name = yielded.yield_iterable = None

    return SvcWorker


def _plain(string: str, env: Any) -> bool:
    """Whether `string` is text Jinja renders as itself in `env`: none of its markers, and
    no line breaks (which Jinja may rewrite)."""
    if env.line_statement_prefix or env.line_comment_prefix or "\n" in string or "\r" in string:
        return False
    markers = (env.block_start_string, env.variable_start_string, env.comment_start_string)
    return not any(marker in string for marker in markers)


def answers_to_record(worker: Any) -> dict[str, Any]:
    """The answers worth remembering: each question's value, never a secret one."""
    questions: dict[str, dict[str, Any]] = worker.template.questions_data
    combined = worker.answers.combined
    recorded = {}
    for name, spec in questions.items():
        if name.startswith("_") or name not in combined:
            continue
        if isinstance(spec, dict) and (spec.get("secret") or spec.get("when") is False):
            continue
        recorded[name] = combined[name]
    return recorded


def answers_relpath(worker: Any) -> Path:
    return Path(worker.answers_relpath)


def unsafe_features(err: Exception) -> str:
    """The features copier's UnsafeTemplateError names ("tasks", "jinja_extensions, tasks"),
    from its first line: the next one tells copier's users to pass copier's own flag."""
    text = str(err).strip()
    _, found, named = text.partition("potentially unsafe feature")
    first = named.lstrip("s").strip(" :").splitlines()[0].rstrip(".") if found and named.strip() else ""
    return first or text.splitlines()[0]


def read_copier_config(path: Path) -> dict[str, Any]:
    """copier's own reading of copier.yml (copier._template.load_template_config)."""
    import_copier()
    from copier._template import load_template_config
    from copier.errors import CopierError

    try:
        return dict(load_template_config(path, quiet=True))
    except (CopierError, yaml.YAMLError, OSError, ValueError, TypeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TemplateError(f"{path.name} of the template cannot be read: {reason}; fix it.") from err
