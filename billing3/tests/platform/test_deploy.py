# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""deploy/: every realm's overlay builds with `kubectl kustomize`, a cluster would accept what it
builds, and the pods it describes are what the platform expects of a running service.

Offline: the Kubernetes schemas come with kubernetes-validate. Skipped where kubectl is missing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
REALMS = sorted(path.parent.name for path in DEPLOY.glob("overlays/*/kustomization.yaml"))
# The oldest Kubernetes the platform's clusters run: raise it with them.
KUBERNETES_VERSION = "1.33.0"
# Custom resources that no Kubernetes schema holds, with the fields their operators require.
CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor"): ("selector", "endpoints")}
PRESTOP_SECONDS = 5.0  # deploy/base/deployment.yaml's preStop pause
KUBECTL = shutil.which("kubectl")
CORE_KINDS = {"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "HorizontalPodAutoscaler"}

Manifest = dict[str, Any]

pytestmark = pytest.mark.skipif(
    KUBECTL is None,
    reason="kubectl is not on PATH: install it to build and check deploy/overlays/*",
)


def kustomize(directory: Path) -> list[Manifest]:
    assert KUBECTL is not None
    built = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    return [document for document in yaml.safe_load_all(built.stdout) if document]


@pytest.fixture(scope="module", params=REALMS)
def realm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def manifests(realm: str) -> list[Manifest]:
    return kustomize(DEPLOY / "overlays" / realm)


def one(manifests: list[Manifest], kind: str) -> Manifest:
    (found,) = [manifest for manifest in manifests if manifest["kind"] == kind]
    return dict(found)


def container(manifests: list[Manifest]) -> Manifest:
    (found,) = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(found)


def env(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {variable["name"]: variable for variable in container(manifests)["env"]}


def test_every_realm_has_an_overlay() -> None:
    assert REALMS


def test_every_object_is_one_a_cluster_accepts(manifests: list[Manifest]) -> None:
    kinds = {manifest["kind"] for manifest in manifests}
    assert kinds >= CORE_KINDS
    for manifest in manifests:
        required = CUSTOM_RESOURCES.get((manifest["apiVersion"], manifest["kind"]))
        if required is None:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        else:
            assert manifest["metadata"]["name"], manifest
            assert all(manifest["spec"].get(field) for field in required), manifest


def test_the_realm_is_the_namespace_and_svc_realm(realm: str, manifests: list[Manifest]) -> None:
    assert {manifest["metadata"]["namespace"] for manifest in manifests} == {realm}
    assert env(manifests)["SVC_REALM"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_instances_register_with_the_pod_identity_in_the_realm_registry(manifests: list[Manifest]) -> None:
    variables = env(manifests)
    assert variables["SVC_ADVERTISE_ADDRESS"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert variables["SVC_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    (source,) = container(manifests)["envFrom"]
    config = one(manifests, "ConfigMap")
    assert source["configMapRef"]["name"] == config["metadata"]["name"]
    assert config["data"]["SVC_REGISTRY_URL"].startswith("etcd://")


def test_probes_ask_the_service_health_endpoints(manifests: list[Manifest]) -> None:
    main = container(manifests)
    (port,) = main["ports"]
    probes = {name: main[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}

    assert {name: probe["path"] for name, probe in probes.items()} == {
        "startupProbe": "/livez",
        "livenessProbe": "/livez",
        "readinessProbe": "/readyz",
    }
    assert {probe["port"] for probe in probes.values()} == {port["name"]}
    assert env(manifests)["PORT"]["value"] == str(port["containerPort"])


def test_the_pod_runs_unprivileged_with_only_tmp_writable(manifests: list[Manifest]) -> None:
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    main = container(manifests)
    security = main["securityContext"]

    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert [mount["mountPath"] for mount in main["volumeMounts"]] == ["/tmp"]  # noqa: S108 - the pod's own
    assert [("emptyDir" in volume) for volume in pod["volumes"]] == [True]
    assert pod["enableServiceLinks"] is False
    for bound in ("requests", "limits"):
        assert set(main["resources"][bound]) == {"cpu", "memory"}, bound


def test_the_service_exits_on_its_own_before_the_kubelet_kills_it(manifests: list[Manifest]) -> None:
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    main = container(manifests)
    assert main["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", f"{PRESTOP_SECONDS:g}"]
    grace = float(env(manifests)["SVC_SHUTDOWN_GRACE_SECONDS"]["value"])

    assert pod["terminationGracePeriodSeconds"] > PRESTOP_SECONDS + grace


def test_the_service_autoscaler_and_budget_select_the_pods(manifests: list[Manifest]) -> None:
    deployment = one(manifests, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert "replicas" not in deployment["spec"]  # the autoscaler's
    target = one(manifests, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    for selector in (
        one(manifests, "Service")["spec"]["selector"],
        one(manifests, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()


def test_the_image_is_a_release_never_latest(manifests: list[Manifest]) -> None:
    image = container(manifests)["image"]
    name, _, tag = image.rpartition(":")

    assert "/" in name and tag and tag != "latest", image


def test_release_manifests_pin_every_realm_to_the_release_image(tmp_path: Path) -> None:
    image = container(kustomize(DEPLOY / "overlays" / REALMS[0]))["image"].rpartition(":")[0]
    digest = "sha256:" + "0" * 64

    subprocess.run(
        [DEPLOY / "release-manifests.sh", image, "v1.2.3", digest, str(tmp_path)],
        capture_output=True,
        check=True,
    )

    assert sorted(path.stem for path in tmp_path.glob("*.yaml")) == REALMS
    for realm in REALMS:
        released = list(yaml.safe_load_all((tmp_path / f"{realm}.yaml").read_text()))
        assert container(released)["image"] == f"{image}:v1.2.3@{digest}"
        assert {manifest["metadata"]["namespace"] for manifest in released} == {realm}
