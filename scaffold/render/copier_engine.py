"""Rendering copier-format templates through copier's public `run_copy`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import TemplateError, UnsafeTemplateError
from . import RenderRequest, jinja_error


def render_copier(template_dir: Path, dest: Path, request: RenderRequest) -> dict[str, Any]:
    import copier
    from copier.errors import CopierError
    from copier.errors import UnsafeTemplateError as CopierUnsafe
    from jinja2 import TemplateError as JinjaError

    data = {"service_name": request.service_name, **request.data}
    try:
        worker = copier.run_copy(
            str(template_dir),
            dest,
            data=data,
            defaults=not request.interactive,
            user_defaults=request.defaults,
            unsafe=request.trust,
            quiet=True,
            overwrite=True,
        )
    except CopierUnsafe as err:
        raise UnsafeTemplateError(
            f"The template runs code on your machine ({_unsafe_features(err)}); "
            "read it, then pass --trust if you trust it."
        ) from err
    except JinjaError as err:
        raise jinja_error(err) from err
    except ValueError as err:
        raise TemplateError(_answer_message(err)) from err
    except (CopierError, OSError, KeyError, TypeError) as err:
        raise TemplateError(f"The template cannot be rendered: {err}") from err
    answers = _answers_to_record(worker)
    _fix_answers_file(dest / worker.answers_relpath, request)
    return answers


def _unsafe_features(err: Exception) -> str:
    text = str(err)
    return text.split("Template uses potentially unsafe feature")[-1].strip(" :.") or text


def _answer_message(err: ValueError) -> str:
    text = str(err).strip()
    if text.startswith("Validation error for question"):
        return text.rstrip(".") + "; give a valid value with -d KEY=VALUE."
    return f"An answer is invalid: {text}; give a valid value with -d KEY=VALUE."


def _answers_to_record(worker: Any) -> dict[str, Any]:
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


def _fix_answers_file(path: Path, request: RenderRequest) -> None:
    """Make copier's answers file name the real source, as if copier had cloned it itself.

    svc hands copier a plain folder (its own checkout), so copier would record that
    temporary path and no commit; plain `copier update` needs the real ones.
    """
    if not path.is_file() or not request.source_location:
        return
    text = path.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    answers = yaml.safe_load(text) or {}
    answers["_src_path"] = request.source_location
    if request.source_ref:
        answers["_commit"] = request.source_ref
    else:
        answers.pop("_commit", None)
    ordered = {k: answers[k] for k in sorted(answers, key=lambda k: (not k.startswith("_"), k))}
    path.write_text(header + yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True))
