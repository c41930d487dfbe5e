"""Layered templates: a company layer (and a team layer) on a base, generated and updated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import commit_all, git
from layer_repos import (
    BASE_QUESTIONS,
    base_files,
    company_files,
    manifest,
    new,
    recorded,
    release,
    svc,
    team_files,
    two_layers,
)


def test_a_layer_adds_replaces_and_removes_base_files(tmp_path: Path) -> None:
    _, acme = two_layers(tmp_path / "templates")
    service = new(acme, tmp_path / "out")

    assert (service / "README.md").read_text().startswith("# demo\n\nOwned by acme-platform.")
    assert (service / "app.py").read_text().startswith("PORT = 8000")
    assert (service / "Dockerfile").read_text().startswith("FROM registry.acme.example/")
    assert (service / "SUPPORT.md").read_text() == "Ask acme-platform in #demo (service demo).\n"
    assert not (service / "docs" / "legacy.md").exists()
    assert not (service / "svc-template.yml").exists()
    # Each copier layer keeps its own answers file, as copier expects for several templates.
    assert "owner: acme-platform" in (service / ".copier-answers.yml").read_text()
    assert "team_channel: '#demo'" in (service / ".copier-answers.acme.yml").read_text()


def test_svc_yml_records_every_layer_base_first_and_one_set_of_answers(tmp_path: Path) -> None:
    base, acme = two_layers(tmp_path / "templates")
    service = new(acme, tmp_path / "out", "-d", "port=9000")

    doc = recorded(service)
    assert [(layer["source"], layer["version"]) for layer in doc["layers"]] == [
        (str(base), "1.0.0"),
        (str(acme), "1.0.0"),
    ]
    assert all(len(layer["commit"]) == 40 for layer in doc["layers"])
    assert doc["answers"] == {
        "service_name": "demo",
        "port": 9000,
        "owner": "acme-platform",
        "team_channel": "#demo",
    }


def test_answers_given_win_over_a_layer_default(tmp_path: Path) -> None:
    _, acme = two_layers(tmp_path / "templates")
    service = new(acme, tmp_path / "out", "-d", "owner=payments", "-d", "team_channel=#pay")
    assert (service / "README.md").read_text().startswith("# demo\n\nOwned by payments.")
    assert (service / "SUPPORT.md").read_text() == "Ask payments in #pay (service demo).\n"


def test_three_layers_stack_team_on_company_on_base(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    base, acme = two_layers(root)
    release(root / "team", "v0.1.0", team_files("v1.0.0"))

    service = new(root / "team", tmp_path / "out")

    assert (service / "TEAM.md").read_text() == "On call: pager-red; channel #demo.\n"
    assert (service / "SUPPORT.md").is_file() and (service / "app.py").is_file()
    layers = recorded(service)["layers"]
    assert [layer["source"] for layer in layers] == [str(base), str(acme), str(root / "team")]
    assert [layer["version"] for layer in layers] == ["1.0.0", "1.0.0", "0.1.0"]


def test_base_release_reaches_services_when_the_company_moves_its_pin(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    base, acme = two_layers(root)
    service = new(acme, tmp_path / "out")
    app = service / "app.py"
    app.write_text(app.read_text() + "\n# local change\n")
    commit_all(service, "local change")

    release(
        base,
        "v1.1.0",
        base_files({"README.md.jinja": "# {{ service_name }}\n\nOwned by {{ owner }}.\n\nBase v2.\n"}),
    )
    # The company has not taken the new base yet: the service is current.
    assert svc("check", service).exit_code == 0

    release(acme, "v1.1.0", company_files("v1.1.0"))
    checked = svc("check", service)
    assert checked.exit_code == 1
    assert f"{base}: 1.0.0 (newest 1.1.0): behind" in checked.output
    assert f"{acme}: 1.0.0 (newest 1.1.0): behind" in checked.output

    updated = svc("update", service, "--commit")
    assert updated.exit_code == 0, updated.output
    assert f"{base}: 1.0.0 -> 1.1.0" in updated.output
    assert "Base v2." in (service / "README.md").read_text()
    assert app.read_text().endswith("# local change\n")
    assert [layer["version"] for layer in recorded(service)["layers"]] == ["1.1.0", "1.1.0"]
    assert svc("check", service).exit_code == 0


def test_a_company_release_alone_updates_only_its_layer(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    base, acme = two_layers(root)
    service = new(acme, tmp_path / "out")
    support = "Ask {{ owner }} in {{ team_channel }}; see go/acme-help.\n"
    release(acme, "v1.2.0", company_files("v1.0.0", changes={"SUPPORT.md.jinja": support}))

    checked = svc("check", service)
    assert checked.exit_code == 1
    assert f"{base}: 1.0.0 (newest 1.0.0): current" in checked.output
    assert f"{acme}: 1.0.0 (newest 1.2.0): behind" in checked.output

    assert svc("update", service, "--commit").exit_code == 0
    assert (service / "SUPPORT.md").read_text() == "Ask acme-platform in #demo; see go/acme-help.\n"
    assert [layer["version"] for layer in recorded(service)["layers"]] == ["1.0.0", "1.2.0"]
    assert svc("update", service).output.endswith("nothing to do.\n")


def test_a_layer_release_that_conflicts_with_a_local_change_leaves_markers(tmp_path: Path) -> None:
    _, acme = two_layers(tmp_path / "templates")
    service = new(acme, tmp_path / "out")
    (service / "Dockerfile").write_text(
        'FROM registry.acme.example/python:3.12-local\nCMD ["python", "app.py"]\n'
    )
    commit_all(service, "pin a local image")
    newer = 'FROM registry.acme.example/python:3.13\nCMD ["python", "app.py"]\n'
    release(acme, "v1.1.0", company_files("v1.0.0", changes={"Dockerfile": newer}))

    result = svc("update", service)

    assert result.exit_code == 1
    assert "Dockerfile" in result.output
    assert "<<<<<<<" in (service / "Dockerfile").read_text()
    assert "UU Dockerfile" in git(service, "status", "--porcelain")


def test_a_layer_changes_the_default_of_a_base_question_without_touching_answers(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    _, acme = two_layers(root)
    service = new(acme, tmp_path / "out")
    questions = company_files("v1.0.0")["copier.yml"]
    assert isinstance(questions, str)
    release(
        acme,
        "v1.1.0",
        company_files("v1.0.0", changes={"copier.yml": questions.replace("acme-platform", "acme-core")}),
    )

    assert svc("update", service, "--commit").exit_code == 0
    # Recorded answers win over a layer's new default: the service keeps its owner.
    assert recorded(service)["answers"]["owner"] == "acme-platform"


# --- bad layers: one sentence, exit 2, nothing written ----------------------------------------


def _refused(template: Path, out: Path) -> str:
    result = svc("new", "demo", "--template", template, "--output-dir", out, "--defaults")
    assert result.exit_code == 2, result.output
    assert not (out / "demo").exists()
    assert "Traceback" not in result.output
    return result.output


def test_a_layer_that_extends_itself_is_refused(tmp_path: Path) -> None:
    acme = tmp_path / "acme"
    release(acme, "v1.0.0", {**company_files("v1.0.0"), "svc-template.yml": manifest(".", "v1.0.0")})
    assert "extends itself" in _refused(acme, tmp_path / "out")


def test_layers_that_make_a_cycle_are_refused(tmp_path: Path) -> None:
    release(
        tmp_path / "one",
        "v1.0.0",
        {"copier.yml": BASE_QUESTIONS, "svc-template.yml": manifest("../two", "v1.0.0")},
    )
    release(
        tmp_path / "two",
        "v1.0.0",
        {"copier.yml": BASE_QUESTIONS, "svc-template.yml": manifest("../one", "v1.0.0")},
    )
    assert "makes a cycle" in _refused(tmp_path / "one", tmp_path / "out")


def test_a_base_that_cannot_be_found_is_refused(tmp_path: Path) -> None:
    release(tmp_path / "acme", "v1.0.0", company_files("v1.0.0", extends="../nowhere"))
    message = _refused(tmp_path / "acme", tmp_path / "out")
    assert "extends ../nowhere at v1.0.0, which cannot be used" in message


def test_a_base_version_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    two_layers(root)
    release(root / "acme", "v1.1.0", company_files("v9.9.9"))
    assert "has no tag, branch or commit 'v9.9.9'" in _refused(root / "acme", tmp_path / "out")


def test_a_layer_question_that_clashes_in_type_with_the_base_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    two_layers(root)
    clash = "_templates_suffix: .jinja\nport:\n  type: str\n  default: eighty\n"
    release(root / "acme", "v1.1.0", company_files("v1.0.0", changes={"copier.yml": clash}))
    message = _refused(root / "acme", tmp_path / "out")
    assert "The question 'port' has type int in" in message
    assert "not its type" in message


@pytest.mark.parametrize("text", ["extends: [1, 2]\n", "colour: blue\n", "remove: [\n"])
def test_a_broken_manifest_is_refused(tmp_path: Path, text: str) -> None:
    root = tmp_path / "templates"
    two_layers(root)
    release(root / "acme", "v1.1.0", company_files("v1.0.0", changes={"svc-template.yml": text}))
    assert "svc-template.yml" in _refused(root / "acme", tmp_path / "out")


def test_three_levels_update_when_each_layer_moves_its_pin(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    base, acme = two_layers(root)
    team = root / "team"
    release(team, "v0.1.0", team_files("v1.0.0"))
    service = new(team, tmp_path / "out")
    readme = "# {{ service_name }}\n\nOwned by {{ owner }}.\n\nBase v2.\n"
    release(base, "v1.1.0", base_files({"README.md.jinja": readme}))
    release(acme, "v1.1.0", company_files("v1.1.0"))
    # Base and company released; the team has not moved its pin yet, so nothing is behind.
    assert svc("check", service).exit_code == 0

    release(team, "v0.2.0", team_files("v1.1.0"))
    checked = svc("check", service)
    assert checked.exit_code == 1
    for layer, old, newer in ((base, "1.0.0", "1.1.0"), (acme, "1.0.0", "1.1.0"), (team, "0.1.0", "0.2.0")):
        assert f"{layer}: {old} (newest {newer}): behind" in checked.output

    updated = svc("update", service, "--commit")
    assert updated.exit_code == 0, updated.output
    assert "Base v2." in (service / "README.md").read_text()
    assert (service / "TEAM.md").is_file() and (service / "SUPPORT.md").is_file()
    assert [layer["version"] for layer in recorded(service)["layers"]] == ["1.1.0", "1.1.0", "0.2.0"]
    assert svc("check", service).exit_code == 0


def test_a_cookiecutter_layer_on_a_copier_base(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    base, _ = two_layers(root)
    release(
        root / "cc",
        "1.0.0",
        {
            "cookiecutter.json": '{"service_name": "x", "project_slug": "{{ cookiecutter.service_name }}",'
            ' "owner": "cc-team"}\n',
            "svc-template.yml": manifest("../base", "v1.0.0"),
            "{{cookiecutter.project_slug}}/OWNERS": "{{ cookiecutter.owner }}\n",
        },
    )
    service = new(root / "cc", tmp_path / "out")

    # The layer's default for the shared question reaches the base too: one set of answers.
    assert (service / "OWNERS").read_text() == "cc-team\n"
    assert "Owned by cc-team." in (service / "README.md").read_text()
    assert [layer["format"] for layer in recorded(service)["layers"]] == ["copier", "cookiecutter"]
    assert [layer["source"] for layer in recorded(service)["layers"]] == [str(base), str(root / "cc")]


def test_diff_shows_what_a_layer_release_would_change(tmp_path: Path) -> None:
    _, acme = two_layers(tmp_path / "templates")
    service = new(acme, tmp_path / "out")
    release(acme, "v1.1.0", company_files("v1.0.0", changes={"NOTICE.md": "Acme.\n"}))

    result = svc("diff", service)

    assert result.exit_code == 1
    assert "+++ b/NOTICE.md" in result.output
    assert git(service, "status", "--porcelain") == ""


def test_a_layer_fetched_by_url_reads_a_relative_base_beside_it(tmp_path: Path) -> None:
    base, acme = two_layers(tmp_path / "templates")
    service = new(f"file://{acme}", tmp_path / "out")
    assert [layer["source"] for layer in recorded(service)["layers"]] == [str(base), f"file://{acme}"]
    assert (service / "SUPPORT.md").is_file()


def test_a_layer_default_may_be_jinja_over_the_answers_known_before_the_base_renders(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    two_layers(root)
    questions = "_templates_suffix: .jinja\nowner:\n  type: str\n  default: '{{ service_name }}-owners'\n"
    release(root / "acme", "v1.1.0", company_files("v1.0.0", changes={"copier.yml": questions}))
    service = new(root / "acme", tmp_path / "out")
    assert "Owned by demo-owners." in (service / "README.md").read_text()

    unknowable = questions.replace("service_name", "favourite_colour")
    release(root / "acme", "v1.2.0", company_files("v1.0.0", changes={"copier.yml": unknowable}))
    assert "A layer's default for 'owner'" in _refused(root / "acme", tmp_path / "again")


def test_update_json_lists_the_base_layers_that_move(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    base, acme = two_layers(root)
    service = new(acme, tmp_path / "out")
    release(base, "v1.1.0", base_files({"NEW.md": "new\n"}))
    release(acme, "v1.1.0", company_files("v1.1.0"))

    result = svc("update", service, "--dry-run", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["moved_layers"] == [f"{base}: 1.0.0 -> 1.1.0"]
