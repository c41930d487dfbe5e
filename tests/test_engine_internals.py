"""What svc needs from copier and cookiecutter beyond their public API, each use tested.

These tests fail loudly, naming what changed, when a release of either library moves
something svc relies on; `.ci/constraints.txt` pins the versions CI tests, and
pyproject.toml declares the tested range.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import build_tree

from scaffold.render.cookiecutter_engine import sandboxed
from scaffold.render.copier_engine import answers_relpath, answers_to_record, unsafe_features


def _copier_template(root: Path, extra: str = "") -> Path:
    return build_tree(
        root,
        {
            "copier.yml": f"""\
                _templates_suffix: .jinja
                service_name: {{type: str}}
                port: {{type: int, default: 8000}}
                token: {{type: str, secret: true, default: s3cret}}
                {extra}
                """,
            "{{_copier_conf.answers_file}}.jinja": "{{ _copier_answers|to_nice_yaml }}",
            "README.md.jinja": "{{ service_name }} on {{ port }}\n",
        },
    )


def test_copier_worker_tells_the_answers_and_where_the_answers_file_went(tmp_path):
    import copier

    template = _copier_template(tmp_path / "tpl")
    worker = copier.run_copy(
        str(template), tmp_path / "out", data={"service_name": "demo"}, defaults=True, quiet=True
    )
    assert answers_to_record(worker) == {"service_name": "demo", "port": 8000}, (
        "copier's Worker.template.questions_data / Worker.answers.combined changed"
    )
    assert answers_relpath(worker) == Path(".copier-answers.yml"), "copier's Worker.answers_relpath changed"


def test_copier_names_the_unsafe_features_in_its_message(tmp_path):
    import copier
    from copier.errors import UnsafeTemplateError

    template = _copier_template(tmp_path / "tpl", extra='_tasks: ["touch ran"]')
    answers = {"service_name": "demo"}
    with pytest.raises(UnsafeTemplateError) as caught:
        copier.run_copy(str(template), tmp_path / "out", data=answers, defaults=True, quiet=True)
    features = unsafe_features(caught.value)
    assert features == "tasks", f"copier's unsafe-template message changed: {caught.value}"


def test_cookiecutter_builds_its_environment_from_the_class_svc_swaps():
    from cookiecutter.utils import create_env_with_context
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment

    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with sandboxed():
        env = create_env_with_context({})
        assert isinstance(env, SandboxedEnvironment), (
            "cookiecutter.utils.create_env_with_context no longer builds cookiecutter.utils.StrictEnvironment"
        )
        with pytest.raises(SecurityError):
            env.from_string(escape).render()
    assert not isinstance(create_env_with_context({}), SandboxedEnvironment)


def test_cookiecutter_generate_files_uses_that_environment(tmp_path):
    from cookiecutter.generate import generate_context, generate_files
    from jinja2.exceptions import SecurityError

    template = build_tree(
        tmp_path / "tpl",
        {
            "cookiecutter.json": '{"name": "demo"}',
            "{{cookiecutter.name}}/leak.txt": "{{ ''.__class__.__mro__[1].__subclasses__() }}\n",
        },
    )
    context = generate_context(context_file=str(template / "cookiecutter.json"))
    with sandboxed(), pytest.raises(SecurityError):
        generate_files(repo_dir=str(template), context=context, output_dir=str(tmp_path / "out"))


def test_copier_reads_its_config_with_includes_and_documents(tmp_path):
    from scaffold.render.copier_engine import read_copier_config

    template = build_tree(
        tmp_path / "tpl",
        {
            "copier.yml": "service_name: {type: str}\n---\n!include 'more/*.yml'\n---\n_tasks: [a]\n",
            "more/migrations.yml": "_migrations: [{version: v2.0.0, command: b}]\n",
        },
    )
    config = read_copier_config(template / "copier.yml")
    assert config["_tasks"] == ["a"], "copier._template.load_template_config no longer merges documents"
    assert config["_migrations"] == [{"version": "v2.0.0", "command": "b"}], (
        "copier._template.load_template_config no longer resolves !include"
    )


# --- svc's Worker renders byte for byte what copier renders -------------------------------

EVERY_FEATURE = {
    "copier.yml": """\
        _subdirectory: "{{ 'project' }}"
        _templates_suffix: .jinja
        _exclude: ["*.bak", "skipped"]
        _jinja_extensions: ["jinja2.ext.do"]
        _envops: {keep_trailing_newline: true}
        _answers_file: ".answers/{{ 'copier' }}.yml"
        service_name: {type: str}
        flavours: {type: yaml, default: [vanilla, mint]}
        with_docs: {type: bool, default: false}
        """,
    "project/README.md.jinja": "# {{ service_name }}\r\n{% do flavours.append('x') %}{{ flavours }}\n\n",
    "project/plain name/as is.txt": "{{ not rendered }}\n",
    "project/{{ service_name }}/{{ service_name }}.py.jinja": "NAME = {{ service_name|tojson }}\n",
    "project/{% yield f from flavours %}{{ f }}{% endyield %}/{{ f }}.txt.jinja": "{{ f }}\n",
    "project/{% if with_docs %}docs{% endif %}/index.md": "docs\n",
    "project/notes.bak": "excluded\n",
    "project/skipped/x.txt": "excluded\n",
    "project/run.sh": "#!/bin/sh\n",
    "project/{{ _copier_conf.answers_file }}.jinja": "{{ _copier_answers|to_nice_yaml }}",
}


# No Jinja extensions of its own, so its compiled templates are cached: yields in a file's name
# and a folder's, files after them, questions whose defaults and validators are templates.
CACHED_FEATURES = {
    "copier.yml": """\
        _templates_suffix: .jinja
        service_name: {type: str}
        flavours: {type: yaml, default: [vanilla, mint]}
        kind: {type: str, choices: [api, worker], default: "{{ 'api' }}"}
        port: {type: int, default: 8000, validator: "{% if port < 1 %}too small{% endif %}"}
        """,
    "{% yield f from flavours %}{{ f }}{% endyield %}.md.jinja": "flavour {{ f }} of {{ kind }}\n",
    "{% yield f from flavours %}{{ f }}{% endyield %}/{{ f }}.txt.jinja": "{{ f }} on {{ port }}\n",
    "after.txt.jinja": "after {{ service_name }}\n",
}


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mode)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("template", ["every feature", "cached features", "built-in"])
def test_svc_worker_renders_byte_for_byte_what_copier_renders(tmp_path: Path, template: str) -> None:
    import copier

    from scaffold.render.copier_engine import run_copy

    if template == "built-in":
        source = Path(__file__).resolve().parents[1] / "templates" / "python-service"
    elif template == "cached features":
        source = build_tree(tmp_path / "tpl", CACHED_FEATURES)
    else:
        source = build_tree(tmp_path / "tpl", EVERY_FEATURE)
        (source / "project" / "run.sh").chmod(0o755)
    options: dict[str, Any] = {
        "data": {"service_name": "billing"},
        "defaults": True,
        "quiet": True,
        "unsafe": True,
    }
    copier.run_copy(str(source), tmp_path / "copier", **options)
    run_copy(str(source), tmp_path / "svc", **options)
    # The second render takes the compiled templates from the cache (but for "every feature",
    # which brings a Jinja extension of its own).
    run_copy(str(source), tmp_path / "svc-again", **options)
    theirs, ours = _tree(tmp_path / "copier"), _tree(tmp_path / "svc")
    assert ours == theirs
    assert _tree(tmp_path / "svc-again") == theirs
    assert template != "every feature" or ".answers/copier.yml" in ours
    assert len(ours) >= 5


def test_copier_worker_has_the_methods_svc_overrides() -> None:
    """svc's Worker replaces some of copier's methods with cheaper equivalents; if copier
    renames or re-signs them, svc's would silently stop applying."""
    import dataclasses
    import functools
    import inspect

    from copier._jinja_ext import get_yield_context
    from copier._main import Worker
    from copier._template import Template

    for owner, name in (
        (Worker, "jinja_env"),
        (Worker, "template"),
        (Template, "vcs"),
        (Template, "_raw_config"),
    ):
        assert isinstance(inspect.getattr_static(owner, name), functools.cached_property), name
    assert [field.name for field in dataclasses.fields(Template)][:3] == ["url", "ref", "use_prereleases"]
    assert "_cleanup_hooks" in {field.name for field in dataclasses.fields(Worker)}
    sync = inspect.signature(Worker._sync_git_index_executable_bit)
    assert list(sync.parameters) == ["self", "dst_relpath", "src_mode"]
    assert isinstance(inspect.getattr_static(Worker, "answers_relpath"), property)
    assert list(inspect.signature(Worker.run_copy).parameters) == ["self"]
    render = inspect.signature(Worker._render_string)
    assert list(render.parameters) == ["self", "string", "extra_context"]
    assert callable(get_yield_context)


@pytest.mark.parametrize(
    "made",
    [
        (("api",), {}),
        (("API", "api"), {"disabled": ""}),
        (("none", None), {"disabled": "not yet"}),
        (([("class:a", "fo"), ("", "rm")],), {"checked": None}),
        (("x", 0), {"checked": True, "shortcut_key": "x", "description": "zero"}),
    ],
)
def test_svc_s_choice_reads_as_questionary_s(made: tuple[tuple[Any, ...], dict[str, Any]]) -> None:
    """copier builds questionary Choices for every choice question, also when nothing is
    asked; svc gives it a stand-in that needs no questionary, which must read the same."""
    from questionary import Choice

    from scaffold.render.copier_engine import _Choice

    args, kwargs = made
    theirs, ours = Choice(*args, **kwargs), _Choice(*args, **kwargs)
    for name in ("title", "value", "disabled", "checked", "description"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert vars(ours.real()) == vars(theirs)
    assert ours.real() is ours.real()


def test_copier_imports_and_renders_without_its_prompt_stack(tmp_path: Path) -> None:
    """svc stands in for the names copier imports from questionary, prompt_toolkit and
    pygments while it imports copier, and renders choice questions that nobody is asked
    without them; a copier release importing or using other names fails here, by name,
    instead of in every render."""
    import subprocess
    import sys

    template = build_tree(tmp_path / "tpl", CACHED_FEATURES)
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from scaffold.render.copier_engine import run_copy\n"
        f"run_copy({str(template)!r}, Path({str(tmp_path / 'out')!r}), data={{'service_name': 'b'}}, "
        "defaults=True, quiet=True)\n"
        "print(sorted(m for m in ('questionary', 'prompt_toolkit') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
