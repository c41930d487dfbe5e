"""Configured template names: the user's config.toml and the company's svc.toml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import build_tree
from layer_repos import base_files, new, recorded, release, svc, two_layers

from scaffold import config
from scaffold.errors import ConfigError


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's configuration file, in a folder of this test's own; run from a bare folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SVC_CONFIG", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = tmp_path / "xdg" / "svc" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


def test_a_configured_name_generates_and_provenance_records_the_real_source(
    tmp_path: Path, user_config: Path
) -> None:
    base = tmp_path / "templates" / "base"
    release(base, "v1.0.0", base_files())
    user_config.write_text(f'[templates.golden]\nsource = "{base}"\n')

    service = new("golden", tmp_path / "out")

    assert recorded(service)["layers"][0]["source"] == str(base)
    assert recorded(service)["layers"][0]["version"] == "1.0.0"


def test_a_configured_ref_is_the_default_and_ref_overrides_it(tmp_path: Path, user_config: Path) -> None:
    base = tmp_path / "templates" / "base"
    release(base, "v1.0.0", base_files())
    release(base, "v1.1.0", base_files({"NEW.md": "new\n"}))
    user_config.write_text(f'[templates.golden]\nsource = "{base}"\nref = "v1.0.0"\n')

    assert recorded(new("golden", tmp_path / "a"))["layers"][0]["version"] == "1.0.0"
    assert recorded(new("golden", tmp_path / "b", "--ref", "v1.1.0"))["layers"][0]["version"] == "1.1.0"


def test_the_company_file_wins_and_relative_sources_mean_its_folder(
    tmp_path: Path, user_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, acme = two_layers(tmp_path / "company" / "templates")
    user_config.write_text(f'[templates.golden]\nsource = "{base}"\n')
    build_tree(tmp_path / "company", {"svc.toml": '[templates.golden]\nsource = "templates/acme"\n'})
    below = tmp_path / "company" / "teams" / "payments"
    below.mkdir(parents=True)
    monkeypatch.chdir(below)

    service = new("golden", tmp_path / "out")

    assert recorded(service)["layers"][-1]["source"] == str(acme)


def test_svc_config_names_the_company_file(
    tmp_path: Path, user_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "templates" / "base"
    release(base, "v1.0.0", base_files())
    company = build_tree(tmp_path / "etc", {"company.toml": f'[templates.golden]\nsource = "{base}"\n'})
    monkeypatch.setenv("SVC_CONFIG", str(company / "company.toml"))
    assert config.load().template("golden") == config.NamedTemplate(
        "golden", str(base), None, (company / "company.toml").resolve()
    )


def test_templates_list_shows_configured_names_format_version_and_base(
    tmp_path: Path, user_config: Path
) -> None:
    _, acme = two_layers(tmp_path / "templates")
    user_config.write_text(
        f'[templates.acme-service]\nsource = "{acme}"\n\n[templates.gone]\nsource = "{tmp_path / "gone"}"\n'
    )

    result = svc("templates", "list", "--json")

    assert result.exit_code == 0, result.output
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert entries["builtin:python-service"]["format"] == "copier"
    assert entries["acme-service"] == {
        "name": "acme-service",
        "source": str(acme),
        "format": "copier",
        "newest_version": "1.0.0",
        "extends": "../base v1.0.0",
        "problem": None,
    }
    assert "does not exist" in entries["gone"]["problem"]
    table = svc("templates", "list")
    assert "acme-service" in table.output and "../base v1.0.0" in table.output


def test_a_configuration_syntax_error_names_file_and_line(tmp_path: Path, user_config: Path) -> None:
    user_config.write_text('[templates.golden]\nsource = "x"\nref = \n')

    result = svc("new", "demo", "--template", "golden", "--output-dir", tmp_path / "out", "--defaults")

    assert result.exit_code == 2
    assert f"{user_config} line 3 is not valid TOML" in result.output
    assert not (tmp_path / "out").exists()
    assert svc("templates", "list").exit_code == 2


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("templates = 1\n", "'templates' must be a table"),
        ("[templates.golden]\nref = 'v1'\n", "needs source"),
        ("[templates.golden]\nsource = 'x'\nref = 1\n", "ref must be a string"),
        ("[templates.golden]\nsource = 'x'\nbranch = 'main'\n", "unknown keys branch"),
    ],
)
def test_a_configuration_that_says_the_wrong_thing_is_refused(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = build_tree(tmp_path, {"svc.toml": text}) / "svc.toml"
    with pytest.raises(ConfigError, match=complaint):
        config.read_file(path)


def test_svc_config_naming_a_missing_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVC_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="SVC_CONFIG names"):
        config.load(tmp_path)
