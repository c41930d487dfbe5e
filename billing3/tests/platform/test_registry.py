# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Registration in the local file registry, by the running app and through the backend itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from billing3.runtime import get_platform
from billing3.runtime.registry import (
    Instance,
    RegistrationLost,
    RegistryUnavailable,
    open_registry,
)


def instance(name: str = "i-1", realm: str = "dev", service: str = "orders") -> Instance:
    return Instance(
        service=service,
        realm=realm,
        instance=name,
        address="127.0.0.1",
        port=8000,
        url="http://127.0.0.1:8000",
        version="1.0.0",
        started_at="2026-01-01T00:00:00Z",
    )


def live(registry_url: str, realm: str, service: str) -> list[Instance]:
    return asyncio.run(open_registry(registry_url).lookup(realm, service))


def test_the_app_registers_while_it_runs_and_deregisters_on_stop(app: FastAPI, registry_url: str) -> None:
    me = get_platform(app).instance

    with TestClient(app):
        during = live(registry_url, "test", "billing3")
    after = live(registry_url, "test", "billing3")

    assert during == [me]
    assert me.url == f"http://127.0.0.1:{me.port}"
    assert after == []


def test_register_lookup_and_deregister(registry_url: str) -> None:
    async def story() -> tuple[list[Instance], list[Instance]]:
        registry = open_registry(registry_url)
        await registry.register(instance("i-1"), ttl=30)
        await registry.register(instance("i-2"), ttl=30)
        await registry.heartbeat(instance("i-1"), ttl=30)
        both = await registry.lookup("dev", "orders")
        await registry.deregister(instance("i-2"))
        return both, await registry.lookup("dev", "orders")

    both, one = asyncio.run(story())

    assert [i.instance for i in both] == ["i-1", "i-2"]
    assert [i.instance for i in one] == ["i-1"]


def test_realms_do_not_see_each_other(registry_url: str) -> None:
    async def story() -> tuple[list[Instance], list[Instance]]:
        registry = open_registry(registry_url)
        await registry.register(instance("i-1", realm="staging"), ttl=30)
        await registry.register(instance("i-2", realm="dev", service="billing"), ttl=30)
        return await registry.lookup("dev", "orders"), await registry.list_realm("dev")

    orders_in_dev, dev = asyncio.run(story())

    assert orders_in_dev == []
    assert [(i.service, i.instance) for i in dev] == [("billing", "i-2")]


def test_an_expired_entry_is_gone_and_its_heartbeat_says_so(registry_url: str) -> None:
    async def story() -> list[Instance]:
        registry = open_registry(registry_url)
        await registry.register(instance(), ttl=0.01)
        await asyncio.sleep(0.05)
        with pytest.raises(RegistrationLost):
            await registry.heartbeat(instance(), ttl=30)
        return await registry.lookup("dev", "orders")

    assert asyncio.run(story()) == []


def test_an_unreachable_store_raises_registry_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    registry = open_registry(f"sqlite://{blocker / 'registry.db'}")

    with pytest.raises(RegistryUnavailable):
        asyncio.run(registry.register(instance(), ttl=30))


def test_the_value_is_the_shared_json_record() -> None:
    text = instance().to_json()

    assert Instance.from_json(text) == instance()
    assert Instance.from_json(text.replace('"port": 8000', '"port": 8000, "zone": "a"')) == instance()
