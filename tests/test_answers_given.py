"""What `-d KEY=VALUE` may say: only questions the template asks, never against NAME."""

from __future__ import annotations

from pathlib import Path

from update_support import (
    BASE_FILES,
    commit_all,
    edit,
    released_service,
    repo_state,
    svc,
    template_repo,
    with_changes,
)


def test_new_refuses_a_key_the_template_does_not_ask(tmp_path: Path, fmt: str) -> None:
    template = template_repo(tmp_path / "template", fmt)
    template.release("v1.0.0", BASE_FILES)
    out = tmp_path / "out"
    result = svc(
        "new", "demo", "--template", template.path, "--output-dir", out, "--defaults", "-d", "prot=9000"
    )
    assert result.exit_code == 2
    assert "no question 'prot'" in result.output
    assert "did you mean 'port'" in result.output
    assert not out.exists() or list(out.iterdir()) == []


def test_update_refuses_a_key_the_template_does_not_ask_and_changes_nothing(tmp_path: Path, fmt: str) -> None:
    template, service = released_service(tmp_path, fmt)
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": "FROM python:3.13-slim\n"}))
    before = repo_state(service)
    result = svc("update", service, "-d", "nosuch=1")
    assert result.exit_code == 2
    assert "no question 'nosuch'" in result.output
    assert repo_state(service) == before


def test_an_answer_derived_from_the_name_cannot_be_overridden(tmp_path: Path, fmt: str) -> None:
    template = template_repo(tmp_path / "template", fmt)
    template.release("v1.0.0", BASE_FILES)
    out = tmp_path / "out"
    for value in ("json", "Has Space", "../../x"):
        result = svc(
            "new", "demo", "-t", template.path, "-o", out, "--defaults", "-d", f"service_name={value}"
        )
        assert result.exit_code == 2, value
        assert "contradicts the service's name 'demo'" in result.output
        assert not out.exists() or list(out.iterdir()) == []
    same = svc("new", "demo", "-t", template.path, "-o", out, "--defaults", "-d", "service_name=demo")
    assert same.exit_code == 0, same.output
    before = repo_state(out / "demo")
    renamed = svc("update", out / "demo", "-d", "service_name=other")
    assert renamed.exit_code == 2
    assert repo_state(out / "demo") == before


def test_a_question_without_default_needs_an_answer_not_an_empty_value(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier", extra_config={"team": {"type": "str"}})
    template.release("v1.0.0", BASE_FILES)
    out = tmp_path / "out"
    refused = svc("new", "demo", "-t", template.path, "-o", out, "--defaults")
    assert refused.exit_code == 2
    assert "asks 'team', which has no default" in refused.output
    assert not out.exists() or list(out.iterdir()) == []

    made = svc("new", "demo", "-t", template.path, "-o", out, "--defaults", "-d", "team=payments")
    assert made.exit_code == 0, made.output
    service = out / "demo"
    edit(service / ".svc.yml", "  team: payments\n", "")
    commit_all(service, "an answer lost")
    template.release("v2.0.0", with_changes(BASE_FILES, {"Dockerfile": "FROM python:3.13-slim\n"}))
    before = repo_state(service)
    lost = svc("update", service)
    assert lost.exit_code == 2
    assert "-d team=VALUE" in lost.output
    assert repo_state(service) == before
    assert svc("update", service, "-d", "team=payments", "--commit").exit_code == 0


def test_a_choice_of_numbers_takes_a_number_given_as_text_and_updates(tmp_path: Path) -> None:
    from helpers import build_tree, init_repo, tag

    template = init_repo(tmp_path / "tpl")
    spec = '{"service_name": "x", "project_slug": "{{ cookiecutter.service_name }}", "python": [3.11, 3.12]}'
    build_tree(
        template,
        {"cookiecutter.json": spec, "{{cookiecutter.project_slug}}/PY": "{{ cookiecutter.python }}\n"},
    )
    commit_all(template, "v1")
    tag(template, "v1.0.0")
    out = tmp_path / "out"
    made = svc("new", "demo", "-t", template, "-o", out, "--defaults", "-d", "python=3.12")
    assert made.exit_code == 0, made.output
    assert (out / "demo" / "PY").read_text() == "3.12\n"
    assert "python: 3.12" in (out / "demo" / ".svc.yml").read_text()
    build_tree(template, {"{{cookiecutter.project_slug}}/README.md": "new in v2\n"})
    commit_all(template, "v2")
    tag(template, "v2.0.0")
    updated = svc("update", out / "demo", "--commit")
    assert updated.exit_code == 0, updated.output
    assert (out / "demo" / "PY").read_text() == "3.12\n"


def test_a_slug_the_template_derives_from_another_answer_is_left_to_it(tmp_path: Path) -> None:
    from helpers import build_tree

    template = build_tree(
        tmp_path / "tpl",
        {
            "cookiecutter.json": (
                '{"project_name": "Billing Service", '
                "\"project_slug\": \"{{ cookiecutter.project_name|lower|replace(' ', '_') }}\"}"
            ),
            "{{cookiecutter.project_slug}}/src/{{cookiecutter.project_slug}}/__init__.py": "",
        },
    )
    out = tmp_path / "out"
    made = svc("new", "billing", "-t", template, "-o", out, "--defaults")
    assert made.exit_code == 0, made.output
    assert (out / "billing" / "src" / "billing_service" / "__init__.py").is_file()


SIZES = {
    "copier": (
        "copier.yml",
        "service_name: {type: str}\nsize: {type: str, choices: %s, default: %s}\n",
        "size.txt.jinja",
        "{{ size }}\n",
    ),
    "cookiecutter": (
        "cookiecutter.json",
        '{"service_name": "x", "project_slug": "{{ cookiecutter.service_name }}", "size": %s}',
        "{{cookiecutter.project_slug}}/size.txt",
        "{{ cookiecutter.size }}\n",
    ),
}


def _sizes(template: Path, fmt: str, choices: list[str]) -> None:
    from helpers import build_tree

    config, spec, name, text = SIZES[fmt]
    listed = "[" + ", ".join(f'"{choice}"' for choice in choices) + "]"
    build_tree(template, {config: spec % ((listed, choices[0]) if fmt == "copier" else listed), name: text})


def test_an_answer_whose_choice_a_later_version_renamed_is_named_with_the_new_choices(
    tmp_path: Path, fmt: str
) -> None:
    from helpers import init_repo, tag

    template = init_repo(tmp_path / "tpl")
    _sizes(template, fmt, ["small", "large"])
    commit_all(template, "v1")
    tag(template, "v1.0.0")
    out = tmp_path / "out"
    assert svc("new", "demo", "-t", template, "-o", out, "--defaults", "-d", "size=large").exit_code == 0
    service = out / "demo"
    _sizes(template, fmt, ["s", "l"])
    commit_all(template, "v2 renames the sizes")
    tag(template, "v2.0.0")
    before = repo_state(service)

    refused = svc("update", service)

    assert refused.exit_code == 2
    assert "large" in refused.output and "-d" in refused.output
    assert "'s', 'l'" in refused.output or "(s, l)" in refused.output
    assert repo_state(service) == before
    updated = svc("update", service, "-d", "size=l", "--commit")
    assert updated.exit_code == 0, updated.output
    assert (service / "size.txt").read_text() == "l\n"
    assert "size: l" in (service / ".svc.yml").read_text()
