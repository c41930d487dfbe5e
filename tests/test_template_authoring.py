"""`svc template init` and `svc template test`: a company template from nothing to a release."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from helpers import build_tree, commit_all, git
from layer_repos import base_files, new, recorded, release, svc
from template_support import service_venv, venv_python

from scaffold.authoring import BUILTIN_TEST_COMMAND

QUICK_TEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"


def _use_quick_tests(template: Path) -> None:
    """The generated command installs the base's dependencies; these tests need only pytest."""
    manifest = template / "svc-template.yml"
    doc = yaml.safe_load(manifest.read_text())
    manifest.write_text(yaml.safe_dump({**doc, "test_command": QUICK_TEST}))


def test_init_writes_a_tagged_repository_layered_on_its_base(tmp_path: Path) -> None:
    base = tmp_path / "base"
    release(base, "v1.0.0", base_files())
    release(base, "v1.1.0", base_files({"NEW.md": "new\n"}))

    result = svc("template", "init", "acme-service", "--extends", base, "--output-dir", tmp_path)

    assert result.exit_code == 0, result.output
    template = tmp_path / "acme-service"
    assert git(template, "tag", "--points-at", "HEAD").split() == ["v0.1.0"]
    assert git(template, "status", "--porcelain") == ""
    doc = yaml.safe_load((template / "svc-template.yml").read_text())
    assert doc["extends"] == {"source": str(base), "ref": "v1.1.0"}
    assert doc["sample_answers"]["service_name"] == "sample-service"
    for rel in ("copier.yml", "README.md", ".github/workflows/template.yml", "template/SUPPORT.md.jinja"):
        assert (template / rel).is_file(), rel
    readme = (template / "README.md").read_text()
    for topic in ("## Change it", "## Test it", "## Release a version", "git tag", "## Roll it out"):
        assert topic in readme
    assert "svc template test ." in (template / ".github/workflows/template.yml").read_text()


def test_a_service_from_an_initialised_template_has_both_layers(tmp_path: Path) -> None:
    base = tmp_path / "base"
    release(base, "v1.0.0", base_files())
    assert svc("template", "init", "acme", "--extends", base, "--output-dir", tmp_path).exit_code == 0

    service = new(tmp_path / "acme", tmp_path / "out", "-d", "team_channel=#demo-help")

    assert "Ask in #demo-help." in (service / "SUPPORT.md").read_text()
    assert (service / "app.py").is_file()
    assert (service / "tests" / "test_acme_layer.py").is_file()
    assert [layer["version"] for layer in recorded(service)["layers"]] == ["1.0.0", "0.1.0"]


def test_init_without_extends_writes_a_template_of_its_own(tmp_path: Path) -> None:
    assert svc("template", "init", "solo", "--output-dir", tmp_path).exit_code == 0
    assert "extends" not in (yaml.safe_load((tmp_path / "solo" / "svc-template.yml").read_text()) or {})
    result = svc("template", "test", tmp_path / "solo")
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output


def test_init_output_passes_template_test_as_generated(tmp_path: Path) -> None:
    base = tmp_path / "base"
    release(base, "v1.0.0", base_files())
    assert svc("template", "init", "acme", "--extends", base, "--output-dir", tmp_path).exit_code == 0

    result = svc("template", "test", tmp_path / "acme", "--json")

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["passed"] is True
    assert doc["command"] == "python3 -m pytest -q"
    assert [layer["source"] for layer in doc["layers"]] == [str(base), str(tmp_path / "acme")]
    assert "1 passed" in doc["output"]


def test_template_test_tests_the_work_tree_and_reports_what_failed(tmp_path: Path) -> None:
    base = tmp_path / "base"
    release(base, "v1.0.0", base_files())
    assert svc("template", "init", "acme", "--extends", base, "--output-dir", tmp_path).exit_code == 0
    template = tmp_path / "acme"
    _use_quick_tests(template)
    # An uncommitted edit that breaks the layer's own test: the work tree is what is tested.
    (template / "template" / "SUPPORT.md.jinja").write_text("Ask the platform team.\n")

    result = svc("template", "test", template)

    assert result.exit_code == 1
    assert "FAIL" in result.output
    assert "test_support_file_names_the_team_channel" in result.output
    assert "1 failed" in result.output


def test_template_test_runs_the_declared_command_in_the_rendered_project(tmp_path: Path) -> None:
    base = tmp_path / "base"
    release(base, "v1.0.0", base_files())
    layer = {
        "copier.yml": "_templates_suffix: .jinja\n",
        "svc-template.yml": yaml.safe_dump(
            {
                "extends": {"source": "../base", "ref": "v1.0.0"},
                "sample_answers": {"service_name": "probe", "port": 9100},
                "test_command": "grep -q 'PORT = 9100' app.py && test -f .svc.yml",
            }
        ),
    }
    release(tmp_path / "acme", "v1.0.0", layer)
    assert svc("template", "test", tmp_path / "acme").exit_code == 0

    build_tree(
        tmp_path / "acme",
        {"svc-template.yml": layer["svc-template.yml"].replace("PORT = 9100", "PORT = 9200")},
    )
    commit_all(tmp_path / "acme", "expect another port")
    assert svc("template", "test", tmp_path / "acme").exit_code == 1


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["template", "init", "Acme_Service"], "not a usable template name"),
        (["template", "init", "acme", "--extends", "/nowhere/at/all"], "does not exist"),
        (["template", "test", "/nowhere/at/all"], "does not exist"),
    ],
)
def test_bad_input_is_refused_with_exit_2(tmp_path: Path, args: list[str], complaint: str) -> None:
    result = svc(*args, *(["--output-dir", str(tmp_path)] if args[1] == "init" else []))
    assert result.exit_code == 2
    assert complaint in result.output
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    build_tree(tmp_path, {"acme/notes.txt": "mine\n"})
    result = svc("template", "init", "acme", "--output-dir", tmp_path)
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert [p.name for p in (tmp_path / "acme").iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_init_on_the_builtin_template_passes_template_test_for_real(tmp_path: Path) -> None:
    """Renders the layer on the built-in service and runs the whole suite of the result.

    The manifest's own command installs the service's dependencies from the index (minutes);
    here it runs the same suite with the dependency venv the other template tests cache.
    """
    init = svc(
        "template", "init", "acme-service", "--extends", "builtin:python-service", "--output-dir", tmp_path
    )
    assert init.exit_code == 0, init.output
    manifest_path = tmp_path / "acme-service" / "svc-template.yml"
    manifest = yaml.safe_load(manifest_path.read_text())
    assert manifest["test_command"] == BUILTIN_TEST_COMMAND
    sample = svc("new", "sample-service", "--defaults", "--no-git", "--output-dir", tmp_path / "sample")
    assert sample.exit_code == 0, sample.output
    python = venv_python(service_venv(tmp_path / "sample" / "sample-service" / "pyproject.toml"))
    cached = f"PYTHONPATH=src {python} -m pytest -q -p no:cacheprovider"
    manifest_path.write_text(manifest_path.read_text().replace(BUILTIN_TEST_COMMAND, cached))

    result = svc("template", "test", tmp_path / "acme-service")

    assert result.exit_code == 0, result.output
    assert "PASS" in result.output
    assert " passed" in result.output


def test_init_pins_an_untagged_base_to_its_commit_and_a_plain_folder_to_nothing(tmp_path: Path) -> None:
    untagged = tmp_path / "untagged"
    release(untagged, "not-a-version", base_files())
    folder = build_tree(tmp_path / "folder", base_files())

    assert svc("template", "init", "one", "--extends", untagged, "--output-dir", tmp_path).exit_code == 0
    assert svc("template", "init", "two", "--extends", folder, "--output-dir", tmp_path).exit_code == 0

    head = git(untagged, "rev-parse", "HEAD").strip()
    assert yaml.safe_load((tmp_path / "one" / "svc-template.yml").read_text())["extends"]["ref"] == head
    assert yaml.safe_load((tmp_path / "two" / "svc-template.yml").read_text())["extends"] == {
        "source": str(folder)
    }
    for name in ("one", "two"):
        assert svc("template", "test", tmp_path / name).exit_code == 0


def test_template_test_exits_2_when_the_template_cannot_render(tmp_path: Path) -> None:
    base = tmp_path / "base"
    release(base, "v1.0.0", base_files())
    manifest = yaml.safe_dump({"extends": {"source": "../base"}, "sample_answers": {"port": "eighty"}})
    release(
        tmp_path / "acme",
        "v1.0.0",
        {"copier.yml": "_templates_suffix: .jinja\n", "svc-template.yml": manifest},
    )

    result = svc("template", "test", tmp_path / "acme")

    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_template_test_runs_tasks_only_with_trust(tmp_path: Path) -> None:
    template = build_tree(
        tmp_path / "tasks",
        {
            "copier.yml": "_tasks: ['touch TASK_RAN']\nservice_name: {type: str}\n",
            "svc-template.yml": "test_command: test -f TASK_RAN\nsample_answers: {service_name: demo}\n",
        },
    )
    refused = svc("template", "test", template)
    assert refused.exit_code == 2, refused.output
    assert "--trust" in refused.output
    trusted = svc("template", "test", template, "--trust")
    assert trusted.exit_code == 0, trusted.output


def test_template_test_of_a_remote_template_needs_trust(tmp_path: Path) -> None:
    marker = tmp_path / "tests-ran"
    template = tmp_path / "remote-template"
    release(
        template,
        "v1.0.0",
        {
            "copier.yml": "service_name: {type: str}\n",
            "README.md": "hi\n",
            "svc-template.yml": f"test_command: touch {marker}\n",
        },
    )
    refused = svc("template", "test", f"file://{template}")
    assert refused.exit_code == 2
    assert "--trust" in refused.output
    assert not marker.exists()
    trusted = svc("template", "test", f"file://{template}", "--trust")
    assert trusted.exit_code == 0, trusted.output
    assert marker.exists()
    # Its author, testing the local checkout, needs no flag.
    marker.unlink()
    assert svc("template", "test", template).exit_code == 0
    assert marker.exists()
