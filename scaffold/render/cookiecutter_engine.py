"""Rendering cookiecutter-format templates through cookiecutter's public functions.

svc calls `generate_context`, `prompt_for_config` and `generate_files` itself, rather than
`cookiecutter()`, to learn the final answers (cookiecutter returns only a path) and to
keep replay files out of the user's home.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import TemplateError, UnsafeTemplateError
from . import RenderRequest, jinja_error

_HOOKS = ("pre_prompt", "pre_gen_project", "post_gen_project")


def code_it_runs(template_dir: Path) -> list[str]:
    """What in the template would run code on the user's machine."""
    found = []
    hooks = template_dir / "hooks"
    if hooks.is_dir():
        found += [f"hook {p.name}" for p in sorted(hooks.iterdir()) if p.stem in _HOOKS]
    try:
        spec = json.loads((template_dir / "cookiecutter.json").read_text())
    except (OSError, ValueError) as err:
        raise TemplateError(f"{template_dir / 'cookiecutter.json'} is not valid JSON: {err}.") from err
    found += [f"Jinja extension {ext}" for ext in spec.get("_extensions", [])]
    return found


def render_cookiecutter(template_dir: Path, dest: Path, request: RenderRequest) -> dict[str, Any]:
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_context, generate_files
    from cookiecutter.prompt import prompt_for_config
    from jinja2 import TemplateError as JinjaError

    risky = code_it_runs(template_dir)
    if risky and not request.trust:
        raise UnsafeTemplateError(
            f"The template runs code on your machine ({', '.join(risky)}); "
            "read it, then pass --trust if you trust it."
        )
    spec = json.loads((template_dir / "cookiecutter.json").read_text())
    extra = {k: str(v) if not isinstance(v, (dict, list, bool)) else v for k, v in request.data.items()}
    extra["service_name"] = request.service_name
    if "project_slug" in spec and "project_slug" not in request.data:
        extra["project_slug"] = request.service_name
    extra = {k: v for k, v in extra.items() if k in spec}
    out = Path(tempfile.mkdtemp(prefix="svc-cc-", dir=dest.parent))
    try:
        context = generate_context(
            context_file=str(template_dir / "cookiecutter.json"),
            default_context={k: v for k, v in request.defaults.items() if k in spec},
            extra_context=extra,
        )
        with _sandboxed():
            context["cookiecutter"] = prompt_for_config(context, not request.interactive)
            _refuse_escaping_paths(template_dir, context)
        answers = {k: v for k, v in context["cookiecutter"].items() if not k.startswith("_")}
        context["cookiecutter"]["_template"] = request.source_location or str(template_dir)
        context["cookiecutter"]["_output_dir"] = str(out)
        context["cookiecutter"]["_repo_dir"] = str(template_dir)
        context["cookiecutter"]["_checkout"] = request.source_ref
        context["_cookiecutter"] = answers
        with _sandboxed():
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
        raise jinja_error(err) from err
    except (CookiecutterException, OSError, ValueError) as err:
        raise TemplateError(f"The template cannot be rendered: {err}") from err
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return answers


@contextmanager
def _sandboxed() -> Iterator[None]:
    """Render with jinja's sandbox, as copier does.

    cookiecutter builds a plain jinja Environment, in which a template expression can reach
    Python internals; it has no setting for a sandbox, so svc swaps the class that its
    `create_env_with_context` builds for the duration of one render. svc renders one
    template at a time per process (fleet work runs in separate processes).
    """
    from cookiecutter import utils
    from cookiecutter.environment import StrictEnvironment
    from jinja2.sandbox import SandboxedEnvironment

    class SandboxedStrictEnvironment(SandboxedEnvironment, StrictEnvironment):
        pass

    original = utils.StrictEnvironment
    utils.StrictEnvironment = SandboxedStrictEnvironment
    try:
        yield
    finally:
        utils.StrictEnvironment = original


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
            rendered = posixpath.normpath(posixpath.join(root, env.from_string(str(rel)).render(**context)))
            if posixpath.isabs(rendered) or not rendered.startswith(posixpath.normpath(root) + "/"):
                raise TemplateError(
                    f"The template file {rel} would be written outside the service's folder "
                    f"(as {rendered}); svc refuses such templates."
                )
    if "/" in root or root in ("", ".", ".."):
        raise TemplateError(
            f"The template's project folder name renders as '{root}', which is not a folder name."
        )
