"""Two generated services, billing calling identity through ``service://``, on real etcd.

Both are rendered from the built-in template with copier and run as real uvicorn
processes (``python -m PACKAGE``) on loopback ports, registering in one realm of an etcd
started for the test. billing gets one extra route, written the way a team would write
it, that calls identity with the smart client.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from etcd_cluster import etcd_cluster
from helpers import free_port, wait_until

from scaffold.errors import RegistryError
from scaffold.registry import list_instances

pytestmark = pytest.mark.slow

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "python-service"
REALM = "two-services"

WHOIS_ROUTE = textwrap.dedent(
    '''
    """billing's call to identity, through the platform's smart client."""

    from fastapi import APIRouter, Request

    from ..runtime import get_platform
    from ..runtime.client import SmartClient

    router = APIRouter()


    def identity_client(request: Request) -> SmartClient:
        client: SmartClient | None = getattr(request.app.state, "smart_client", None)
        if client is None:
            platform = get_platform(request.app)
            client = SmartClient(
                platform.registry,
                platform.settings.realm,
                metrics_registry=platform.metrics.registry,
            )
            request.app.state.smart_client = client
        return client


    @router.get("/v1/whois/{name}")
    async def whois(name: str, request: Request) -> dict[str, object]:
        response = await identity_client(request).get(f"service://identity/v1/greetings/{name}")
        return {"status": response.status_code, "identity": response.json()}
    '''
)

BILLING_MAIN = textwrap.dedent(
    """
    from .api import whois
    from .app import create_app
    from .runtime import serve
    from .settings import Settings

    settings = Settings()
    app = create_app(settings)
    app.include_router(whois.router)
    serve(app, settings)
    """
)


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict[str, object]]:
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines

    def live(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited:\n{self.log.read_text(errors='replace')}")
        try:
            return httpx.get(f"{self.url}/livez", timeout=1.0, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def render(root: Path, service_name: str) -> Path:
    import copier

    target = root / service_name
    copier.run_copy(
        str(TEMPLATE), str(target), defaults=True, data={"service_name": service_name}, quiet=True
    )
    return target


def start(
    project: Path,
    name: str,
    module: str,
    registry_url: str,
    logs: Path,
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Service:
    """Start the service on `port`, or, without one, on the port it chooses (read from the registry);
    `env` adds to (or overrides) its environment."""
    log = logs / f"{name}.log"
    env = {
        **{key: value for key, value in os.environ.items() if key != "PORT" and not key.startswith("SVC_")},
        "PYTHONPATH": str(project / "src"),
        "HOST": "127.0.0.1",
        "SVC_REALM": REALM,
        "SVC_REGISTRY_URL": registry_url,
        "SVC_INSTANCE_ID": name,
        "SVC_LOG_FORMAT": "json",
        "SVC_DRAIN_SECONDS": "0",
        **(env or {}),
    }
    if port is not None:
        env["PORT"] = str(port)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    service = Service(name, port or 0, process, log)
    if port is None:

        def registered() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited:\n{log.read_text(errors='replace')}")
            try:
                ports = [r.port for r in list_instances(registry_url, REALM) if r.instance == name]
            except RegistryError:  # no service has created the registry file yet
                return False
            service.port = ports[0] if ports else 0
            return bool(ports)

        wait_until(registered, timeout=60, what=f"{name} to register")
    wait_until(service.live, timeout=60, what=f"{name} to answer /livez")
    return service


def whois_pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    """identity, and billing with a route that asks identity; and a folder for their logs."""
    identity = render(tmp_path, "identity")
    billing = render(tmp_path, "billing")
    (billing / "src" / "billing" / "api" / "whois.py").write_text(WHOIS_ROUTE)
    (billing / "src" / "billing" / "with_whois.py").write_text(BILLING_MAIN)
    logs = tmp_path / "logs"
    logs.mkdir()
    return identity, billing, logs


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[dict[str, Service]]:
    identity, billing, logs = whois_pair(tmp_path)
    services: dict[str, Service] = {}
    with etcd_cluster(tmp_path) as etcd:
        try:
            for name, project, module in (
                ("identity-1", identity, "identity"),
                ("identity-2", identity, "identity"),
                ("billing-1", billing, "billing.with_whois"),
            ):
                services[name] = start(project, name, module, etcd.registry_url, logs, port=free_port())
            wait_until(
                lambda: len(list_instances(etcd.registry_url, REALM)) == 3,
                timeout=30,
                what="three registered instances",
            )
            yield services
        finally:
            for service in services.values():
                if service.process.poll() is None:
                    service.process.kill()
                    service.process.wait()


def test_billing_calls_identity_by_name_and_survives_losing_an_instance(
    fleet: dict[str, Service],
) -> None:
    billing = fleet["billing-1"]

    answer = httpx.get(
        f"{billing.url}/v1/whois/ada", headers={"X-Request-ID": "two-services-1"}, trust_env=False
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": 200, "identity": {"message": "Hello, ada!"}}

    # The request ID that reached billing went on to identity, and is in identity's log (which
    # the access log line reaches once the response is on its way: wait for it).
    def logged_by_identity() -> bool:
        lines = fleet["identity-1"].log_lines() + fleet["identity-2"].log_lines()
        return any(
            line.get("request_id") == "two-services-1" and line.get("path") == "/v1/greetings/ada"
            for line in lines
        )

    wait_until(logged_by_identity, timeout=10, what="identity's log line for request two-services-1")

    # One identity instance dies without deregistering: its entry lingers until its TTL.
    fleet["identity-1"].process.kill()
    fleet["identity-1"].process.wait()
    for index in range(10):
        answer = httpx.get(f"{billing.url}/v1/whois/n{index}", trust_env=False)
        assert answer.status_code == 200, answer.text
        assert answer.json()["identity"] == {"message": f"Hello, n{index}!"}

    metrics = httpx.get(f"{billing.url}/metrics", trust_env=False).text
    assert 'http_client_requests_total{method="GET",status="200",target="identity"} 11.0' in metrics

    assert fleet["identity-2"].stop() == 0
    assert billing.stop() == 0


def test_two_services_started_with_their_default_ports_both_serve_and_register(tmp_path: Path) -> None:
    # Both were generated with the default port (8000): the second takes a free one instead.
    identity, billing = render(tmp_path, "identity"), render(tmp_path, "billing")
    logs = tmp_path / "logs"
    logs.mkdir()
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    started: list[Service] = []
    try:
        started.append(start(identity, "identity-1", "identity", registry_url, logs))
        started.append(start(billing, "billing-1", "billing", registry_url, logs))

        listed = {(r.service, r.port) for r in list_instances(registry_url, REALM)}
        assert listed == {("identity", started[0].port), ("billing", started[1].port)}
        assert started[0].port != started[1].port
        for service in started:
            answer = httpx.get(f"{service.url}/v1/greetings/ada", trust_env=False)
            assert answer.json() == {"message": "Hello, ada!"}
            said = [line for line in service.log_lines() if line.get("event") == "listening"]
            assert [line["port"] for line in said] == [service.port]
            assert service.stop() == 0
    finally:
        for service in started:
            if service.process.poll() is None:
                service.process.kill()
                service.process.wait()
