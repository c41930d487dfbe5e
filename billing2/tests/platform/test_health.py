# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Health endpoints and the application/health+json report."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from billing2.app import create_app
from billing2.runtime import get_platform
from billing2.settings import Settings

HEALTH_JSON = "application/health+json"


def test_livez_passes_without_checking_dependencies(app: FastAPI, client: TestClient) -> None:
    async def database() -> None:
        raise ConnectionError("database down")

    get_platform(app).health.add_check("database", database)

    response = client.get("/livez")

    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_JSON
    assert response.json() == {"status": "pass"}


def test_readyz_passes_once_registered(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_JSON
    assert response.json() == {"status": "pass"}


def test_health_report_has_the_health_json_shape(client: TestClient) -> None:
    response = client.get("/health")

    body = response.json()
    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_JSON
    assert body["status"] == "pass"
    assert body["serviceId"] == "billing2"
    assert isinstance(body["version"], str)
    [registry] = body["checks"]["registry:heartbeatAge"]
    assert registry["componentType"] == "system"
    assert registry["status"] == "pass"
    assert registry["observedUnit"] == "s"
    assert isinstance(registry["observedValue"], float)
    assert registry["time"].endswith("Z")


def test_a_failing_critical_check_fails_readiness(app: FastAPI, client: TestClient) -> None:
    async def database() -> None:
        raise ConnectionError("connection refused")

    get_platform(app).health.add_check("database", database, component_type="datastore")

    ready = client.get("/readyz")
    report = client.get("/health").json()

    assert ready.status_code == 503
    assert ready.json()["status"] == "fail"
    assert report["status"] == "fail"
    [check] = report["checks"]["database:responseTime"]
    assert check == {
        "componentType": "datastore",
        "status": "fail",
        "time": check["time"],
        "output": "ConnectionError: connection refused",
    }


def test_a_failing_non_critical_check_only_warns(app: FastAPI, client: TestClient) -> None:
    async def recommendations() -> None:
        raise ConnectionError("no instances")

    get_platform(app).health.add_check("recommendations", recommendations, critical=False)

    ready = client.get("/readyz")

    assert ready.status_code == 200
    assert ready.json()["status"] == "warn"
    assert "recommendations" in ready.json()["output"]


def test_a_check_that_hangs_fails_after_its_timeout(app: FastAPI, client: TestClient) -> None:
    async def queue() -> None:
        await asyncio.Event().wait()

    get_platform(app).health.add_check("queue", queue, timeout=0.05)

    [check] = client.get("/health").json()["checks"]["queue:responseTime"]

    assert check["status"] == "fail"
    assert check["output"] == "no answer within 0.05 s"


def test_checks_run_concurrently(app: FastAPI, client: TestClient) -> None:
    # Each check waits until the other has started: run one after the other, both would time out.
    first_started, second_started = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        first_started.set()
        await second_started.wait()

    async def second() -> None:
        second_started.set()
        await first_started.wait()

    get_platform(app).health.add_check("first", first, timeout=5)
    get_platform(app).health.add_check("second", second, timeout=5)

    assert client.get("/readyz").json() == {"status": "pass"}


def test_check_results_are_cached_between_probes(registry_url: str) -> None:
    calls: list[int] = []

    async def queue_depth() -> float:
        calls.append(1)
        return 42.0

    app = create_app(Settings(registry_url=registry_url, health_cache_seconds=60))
    get_platform(app).health.add_check("queue", queue_depth, measurement="depth", unit="messages")
    with TestClient(app) as client:
        client.get("/readyz")
        # The registrar ran the checks too, once, to know whether to register.
        after_first_probe = len(calls)
        report = client.get("/health").json()

    assert len(calls) == after_first_probe <= 2
    [check] = report["checks"]["queue:depth"]
    assert (check["observedValue"], check["observedUnit"]) == (42.0, "messages")


def test_an_unreachable_registry_warns_but_the_service_serves(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    settings = Settings(registry_url=f"sqlite://{not_a_directory / 'registry.db'}", health_cache_seconds=0)

    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        greeting = client.get("/v1/greetings/Ada")

    assert ready.status_code == 200
    assert ready.json()["status"] == "warn"
    assert "registry" in ready.json()["output"]
    assert greeting.status_code == 200


def test_probes_answer_head_as_they_answer_get(client: TestClient) -> None:
    # Load balancers and uptime checkers often probe with HEAD.
    for path in ("/livez", "/readyz", "/health"):
        response = client.head(path)

        assert response.status_code == 200, path
        assert response.headers["content-type"] == HEALTH_JSON
