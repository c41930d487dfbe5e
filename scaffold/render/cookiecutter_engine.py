"""The cookiecutter format: rendering through cookiecutter's public functions, its
questions, and projects made by cruft (`.cruft.json`), which svc keeps current.

svc calls `generate_context`, `prompt_for_config` and `generate_files` itself, rather than
`cookiecutter()`, to learn the final answers (cookiecutter returns only a path) and to
keep replay files out of the user's home. What svc needs beyond cookiecutter's public API
sits in one place, at the end of this module, covered by tests/test_engine_internals.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import provenance
from ..errors import InputError, ProvenanceError, TemplateError, UnsafeTemplateError
from ..migrations import Migration
from ..provenance import Layer, Provenance
from .engine import Question, RenderRequest, first_line, jinja_error, normalised_type, type_of

CONFIG_FILE = "cookiecutter.json"
# The variable cookiecutter templates conventionally name their project folder after.
SLUG = "project_slug"
CRUFT_FILE = ".cruft.json"
_HOOKS = ("pre_prompt", "pre_gen_project", "post_gen_project")


class CookiecutterEngine:
    name = "cookiecutter"
    markers: tuple[str, ...] = (CONFIG_FILE,)
    answers_file: str | None = CRUFT_FILE

    def detect(self, template_dir: Path) -> bool:
        return (template_dir / CONFIG_FILE).is_file()

    def questions(self, template_dir: Path) -> dict[str, Question]:
        found = {}
        for name, value in _spec(template_dir).items():
            if name.startswith("_"):
                continue
            # A list is a choice; its type is that of its first option.
            first = value[0] if isinstance(value, list) and value else value
            found[name] = Question(name, normalised_type(type_of(first)), first)
        return found

    def render(self, template_dir: Path, dest: Path, request: RenderRequest) -> dict[str, Any]:
        return render_cookiecutter(template_dir, dest, request)

    def import_project(self, root: Path, answers_file: str | None = None) -> Provenance | None:
        path = root / (answers_file or CRUFT_FILE)
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text())
            context = doc["context"]["cookiecutter"]
            layer = Layer(
                source=provenance.absolute_source(str(doc["template"]), root),
                format=self.name,
                ref=doc.get("checkout"),
                commit=doc.get("commit"),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise ProvenanceError(f"{path} is not a valid cruft file ({err}).") from err
        if doc.get("directory"):
            raise ProvenanceError(
                f"{path} names a template in a sub-folder ({doc['directory']}), which svc cannot "
                "update yet; keep using 'cruft update' for this project."
            )
        answers = {k: v for k, v in context.items() if not k.startswith("_")}
        return Provenance((layer,), answers, origin=CRUFT_FILE)

    def answers_file_after_update(
        self, ours: str | None, theirs: str | None, layer: Layer, answers: Mapping[str, Any]
    ) -> str | None:
        # A project made by cruft: keep .cruft.json current so that cruft still works on it.
        return None if ours is None else updated_cruft(ours, layer, answers)

    def migrations(
        self, template_dir: Path, before: Layer, after: Layer, answers: Mapping[str, Any]
    ) -> list[Migration]:
        return []  # cookiecutter has no migrations


def updated_cruft(text: str, layer: Layer, answers: Mapping[str, Any]) -> str:
    """`.cruft.json` moved to `layer` with `answers`, so that `cruft check` and `cruft update`
    agree with svc; keys svc does not know are kept as cruft wrote them."""
    doc = json.loads(text)
    doc["commit"] = layer.commit
    if doc.get("checkout") is not None:
        # cruft follows `checkout` on its next update; point it where svc went.
        doc["checkout"] = layer.ref
    context = doc.setdefault("context", {}).setdefault("cookiecutter", {})
    context.update({k: v for k, v in answers.items() if not k.startswith("_")})
    if "_commit" in context:
        context["_commit"] = layer.commit
    return json.dumps(doc, indent=2) + "\n"


def _private_context(template_dir: Path, out: Path, request: RenderRequest) -> dict[str, Any]:
    """The `_` keys cookiecutter adds to a render's context.

    svc gives every template what cruft gives: `_template` and `_commit`, the same on every
    machine, and what a project made by cruft was rendered with (a template that prints its
    whole context renders alike, so a takeover meets no spurious conflict). The keys only
    cookiecutter adds name folders of one machine at one moment (`_output_dir`, `_repo_dir`)
    or are missing from cruft's renders (`_checkout`): a template gets them only when it
    names them, so a render stays the same when made again elsewhere.
    """
    private: dict[str, Any] = {"_template": request.source_location or str(template_dir)}
    if request.source_commit:
        private["_commit"] = request.source_commit
    local = {"_output_dir": str(out), "_repo_dir": str(template_dir), "_checkout": request.source_ref}
    named = _named_in(template_dir, local)
    private.update({key: value for key, value in local.items() if key in named})
    return private


def _named_in(template_dir: Path, keys: Iterable[str]) -> set[str]:
    """Which of `keys` some file of the template (hooks and cookiecutter.json included) names."""
    wanted = {key: key.encode() for key in keys}
    found: set[str] = set()
    for path in template_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            text = path.read_bytes()
            found.update(key for key, needle in wanted.items() if needle in text)
    return found


def _spec(template_dir: Path) -> dict[str, Any]:
    path = template_dir / CONFIG_FILE
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise TemplateError(f"{path} is not valid JSON: {err}.") from err
    if not isinstance(spec, dict):
        raise TemplateError(f"{path} must hold a JSON object of questions.")
    return spec


def code_it_runs(template_dir: Path) -> list[str]:
    """What in the template would run code on the user's machine."""
    found = []
    hooks = template_dir / "hooks"
    if hooks.is_dir():
        found += [f"hook {p.name}" for p in sorted(hooks.iterdir()) if p.stem in _HOOKS]
    found += [f"Jinja extension {ext}" for ext in _spec(template_dir).get("_extensions", [])]
    return found


def render_cookiecutter(template_dir: Path, dest: Path, request: RenderRequest) -> dict[str, Any]:
    risky = code_it_runs(template_dir)
    if risky and not request.trust:
        raise UnsafeTemplateError(
            f"The template runs code on your machine ({', '.join(risky)}); "
            "read it, then pass --trust if you trust it."
        )
    if not request.trust:
        return _render(template_dir, dest, request)
    # As cookiecutter: the pre_prompt hook runs first, in a copy of the template it may change,
    # and the template's folder is importable for its local Jinja extensions.
    repo = _after_pre_prompt_hook(template_dir)
    try:
        with _importable(repo):
            return _render(repo, dest, request)
    finally:
        if repo != template_dir:
            shutil.rmtree(repo.parent, ignore_errors=True)  # cookiecutter's temporary copy


def _render(template_dir: Path, dest: Path, request: RenderRequest) -> dict[str, Any]:
    from cookiecutter.exceptions import CookiecutterException, FailedHookException
    from cookiecutter.generate import generate_context, generate_files
    from cookiecutter.prompt import prompt_for_config
    from jinja2 import TemplateError as JinjaError

    spec = _spec(template_dir)
    extra = {k: _typed(v, spec[k]) for k, v in request.data.items() if k in spec}
    extra["service_name"] = request.service_name
    if _slug_follows_name(spec):
        given = request.data.get(SLUG)
        if given is not None and str(given) != request.service_name:
            raise InputError(
                f"-d {SLUG}={given} contradicts the service's name '{request.service_name}', which sets "
                f"{SLUG}; drop that -d."
            )
        extra[SLUG] = request.service_name
    extra = {k: v for k, v in extra.items() if k in spec}
    _refuse_unknown_choices(extra, spec)
    out = Path(tempfile.mkdtemp(prefix="svc-cc-", dir=dest.parent))
    hooks = HookOutput()
    try:
        context = generate_context(
            context_file=str(template_dir / CONFIG_FILE),
            default_context={k: v for k, v in request.defaults.items() if k in spec},
            extra_context=extra,
        )
        with sandboxed():
            context["cookiecutter"] = prompt_for_config(context, not request.interactive)
            _refuse_escaping_paths(template_dir, context)
        # cookiecutter renders every choice as text; the record keeps the type the template wrote.
        answers = {
            k: _typed(v, spec.get(k)) for k, v in context["cookiecutter"].items() if not k.startswith("_")
        }
        context["cookiecutter"].update(_private_context(template_dir, out, request))
        context["_cookiecutter"] = answers
        with sandboxed(), hooks:
            project = Path(
                generate_files(
                    repo_dir=str(template_dir),
                    context=context,
                    output_dir=str(out),
                    accept_hooks=request.trust,
                )
            )
        for item in project.iterdir():
            shutil.move(str(item), dest / item.name)
    except JinjaError as err:
        raise jinja_error(err, template_dir) from err
    except FailedHookException as err:
        raise TemplateError(f"A hook of the template failed: {hooks.said()}.") from err
    except (CookiecutterException, OSError, ValueError) as err:
        raise TemplateError(f"The template cannot be rendered: {first_line(err)}") from err
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return answers


def _refuse_unknown_choices(answers: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    """An answer that is none of its question's choices (a version renamed them) is named with
    the choices there are; cookiecutter's own error says neither which nor how to mend it."""
    for key, value in answers.items():
        choices = spec[key]
        rendered = isinstance(choices, list) and any("{{" in str(choice) for choice in choices)
        if isinstance(choices, list) and choices and not rendered and value not in choices:
            listed = ", ".join(str(choice) for choice in choices)
            raise InputError(
                f"The answer {key}={value} is not one of the template's choices ({listed}); "
                f"give one with -d {key}=VALUE."
            )


def _slug_follows_name(spec: Mapping[str, Any]) -> bool:
    """svc sets `project_slug` to the service's name, unless the template derives it from
    another answer (`{{ cookiecutter.project_name|slugify }}`): then the template decides."""
    default = spec.get(SLUG)
    return SLUG in spec and not (isinstance(default, str) and "{{" in default)


def _typed(value: Any, default: Any) -> Any:
    """An answer given as text (`-d python=3.8`) in the type the template declares, so a
    choice of numbers or a flag takes it; answers already typed stay as they are."""
    if not isinstance(value, str):
        return value
    if isinstance(default, list):
        return next((choice for choice in default if str(choice) == value), value)
    if isinstance(default, bool):
        return value.strip().lower() in ("1", "true", "yes", "y", "on")
    for kind in (int, float):
        if type(default) is kind:
            with contextlib.suppress(ValueError):
                return kind(value)
    return value


class HookOutput:
    """What hooks write to stderr while the render runs, held back: a failing hook is then
    reported in one line (its last), not with its traceback; otherwise it is all passed on."""

    def __init__(self) -> None:
        self._text = ""

    def __enter__(self) -> HookOutput:
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._sink = tempfile.TemporaryFile()
        os.dup2(self._sink.fileno(), 2)
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._sink.seek(0)
        data = self._sink.read()
        self._sink.close()
        self._text = data.decode(errors="replace")
        from cookiecutter.exceptions import FailedHookException

        if kind is None or not issubclass(kind, FailedHookException):
            os.write(2, data)

    def said(self) -> str:
        """The hook's last line, before cookiecutter's own report of the failure (a log line
        and a traceback of cookiecutter's; tests/test_messages.py notices if that changes)."""
        hook_part = self._text.split("Stopping generation because", 1)[0]
        lines = [line.strip() for line in hook_part.splitlines() if line.strip()]
        return lines[-1].rstrip(".") if lines else "it exited with an error"


def _after_pre_prompt_hook(template_dir: Path) -> Path:
    """The template once its pre_prompt hook ran (cookiecutter runs it in a copy)."""
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.hooks import run_pre_prompt_hook

    hooks = HookOutput()
    try:
        with hooks:
            return Path(run_pre_prompt_hook(template_dir))
    except FailedHookException as err:
        raise TemplateError(f"The template's pre_prompt hook failed: {hooks.said()}.") from err


@contextmanager
def _importable(template_dir: Path) -> Iterator[None]:
    """The template's folder on sys.path, so `_extensions: [local_extensions.X]` imports."""
    entry = str(template_dir)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _refuse_escaping_paths(template_dir: Path, context: dict[str, Any]) -> None:
    """Render every file name first: cookiecutter would write `../` paths wherever they lead."""
    from cookiecutter.find import find_template
    from cookiecutter.utils import create_env_with_context

    env = create_env_with_context(context)
    project_dir = Path(find_template(template_dir, env))
    root = env.from_string(project_dir.name).render(**context)
    for dirpath, dirnames, filenames in os.walk(project_dir):
        for name in [*dirnames, *filenames]:
            rel = (Path(dirpath) / name).relative_to(project_dir)
            named = env.from_string(str(rel)).render(**context)
            if not named or named.endswith("/"):
                continue  # a name that renders empty: cookiecutter skips the file, and so does svc
            rendered = posixpath.normpath(posixpath.join(root, named))
            if posixpath.isabs(rendered) or not rendered.startswith(posixpath.normpath(root) + "/"):
                raise TemplateError(
                    f"The template file {rel} would be written outside the service's folder "
                    f"(as {rendered}); svc refuses such templates."
                )
    if "/" in root or root in ("", ".", ".."):
        raise TemplateError(
            f"The template's project folder name renders as '{root}', which is not a folder name."
        )


COOKIECUTTER = CookiecutterEngine()


# --- cookiecutter internals svc relies on ----------------------------------------------------
# generate_files builds its jinja environment through cookiecutter.utils.StrictEnvironment
# and offers no way to pass another; svc swaps that class for a sandboxed one.
# tests/test_engine_internals.py fails loudly when a cookiecutter release changes this.


@contextmanager
def sandboxed() -> Iterator[None]:
    """Render with jinja's sandbox, as copier does.

    cookiecutter builds a plain jinja Environment, in which a template expression can reach
    Python internals; it has no setting for a sandbox, so svc swaps the class that its
    `create_env_with_context` builds for the duration of one render. svc renders one
    template at a time per process (fleet work runs in separate processes).
    """
    from cookiecutter import utils
    from cookiecutter.environment import StrictEnvironment
    from jinja2.sandbox import SandboxedEnvironment

    # cookiecutter ships no type information, so StrictEnvironment is Any to mypy.
    class SandboxedStrictEnvironment(SandboxedEnvironment, StrictEnvironment):  # type: ignore[misc]
        pass

    original = utils.StrictEnvironment
    utils.StrictEnvironment = SandboxedStrictEnvironment
    try:
        yield
    finally:
        utils.StrictEnvironment = original
