"""The generated service's etcd registry backend, against real etcd processes on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest
from etcd_cluster import (
    EtcdCluster,
    etcd_cluster,
    import_runtime,
    make_instance,
    plan_cluster,
)
from helpers import wait_until

T = TypeVar("T")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return import_runtime(tmp_path_factory.mktemp("runtime"))


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    with etcd_cluster(tmp_path_factory.mktemp("etcd")) as cluster:
        yield cluster


def run(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


async def eventually(
    action: Callable[[], Awaitable[T]], unavailable: type[BaseException], timeout: float = 30.0
) -> T:
    """Run ``action`` until it stops raising ``unavailable`` (etcd electing a leader, say)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await action()
        except unavailable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


def names(instances: list[Any]) -> list[str]:
    return sorted(instance.instance for instance in instances)


def test_prefix_range_end_covers_exactly_the_prefix(runtime: ModuleType) -> None:
    from svc_under_test.runtime.registry.etcd import prefix_range_end

    assert prefix_range_end(b"/services/dev/") == b"/services/dev0"
    assert prefix_range_end(b"/a\xff") == b"/b"
    assert prefix_range_end(b"\xff\xff") == b"\x00"


@pytest.mark.slow
def test_register_lookup_heartbeat_deregister(runtime: ModuleType, etcd: EtcdCluster) -> None:
    first = make_instance(runtime, "orders", "orders-1", realm="lifecycle", port=8001)
    second = make_instance(runtime, "orders", "orders-2", realm="lifecycle", port=8002)

    async def story() -> None:
        registry = runtime.registry.open_registry(etcd.registry_url)
        try:
            assert await registry.lookup("lifecycle", "orders") == []
            await registry.register(first, 10)
            await registry.register(second, 10)
            assert names(await registry.lookup("lifecycle", "orders")) == ["orders-1", "orders-2"]
            assert first in await registry.lookup("lifecycle", "orders")
            await registry.heartbeat(first, 10)
            await registry.deregister(first)
            assert names(await registry.lookup("lifecycle", "orders")) == ["orders-2"]
            await registry.deregister(first)  # absent: not an error
            with pytest.raises(runtime.registry.RegistrationLost):
                await registry.heartbeat(first, 10)
        finally:
            await registry.aclose()

    run(story())


@pytest.mark.slow
def test_realms_and_services_are_isolated_by_key_prefix(runtime: ModuleType, etcd: EtcdCluster) -> None:
    entries = [
        make_instance(runtime, "orders", "o-dev", realm="iso"),
        make_instance(runtime, "orders", "o-staging", realm="iso-staging"),
        make_instance(runtime, "orders-archive", "oa-dev", realm="iso"),
        make_instance(runtime, "billing", "b-dev2", realm="iso2"),
    ]

    async def story() -> None:
        registry = runtime.registry.open_registry(etcd.registry_url)
        try:
            for entry in entries:
                await registry.register(entry, 10)
            assert names(await registry.lookup("iso", "orders")) == ["o-dev"]
            assert names(await registry.lookup("iso-staging", "orders")) == ["o-staging"]
            assert names(await registry.list_realm("iso")) == ["o-dev", "oa-dev"]
            assert names(await registry.list_realm("iso2")) == ["b-dev2"]
            assert await registry.lookup("iso2", "orders") == []
        finally:
            await registry.aclose()

    run(story())


REGISTRANT = textwrap.dedent(
    """
    import asyncio, sys
    from svc_under_test.runtime.registry import Instance, open_registry

    async def main():
        registry = open_registry(sys.argv[1])
        me = Instance("victim", "ttl", "victim-1", "127.0.0.1", 9, "http://127.0.0.1:9",
                      "1.0.0", "2026-01-01T00:00:00Z")
        await registry.register(me, 2)
        print("registered", flush=True)
        while True:
            await asyncio.sleep(2 / 3)
            await registry.heartbeat(me, 2)

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_entry_vanishes_after_its_ttl_when_the_registrant_is_killed(
    runtime: ModuleType, etcd: EtcdCluster
) -> None:
    assert runtime.__file__ is not None
    root = Path(runtime.__file__).parent.parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    registrant = subprocess.Popen(
        [sys.executable, "-c", REGISTRANT, etcd.registry_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert registrant.stdout is not None
        line = registrant.stdout.readline()
        assert line == b"registered\n", registrant.stderr.read() if registrant.stderr else ""

        async def lookup() -> list[Any]:
            registry = runtime.registry.open_registry(etcd.registry_url)
            try:
                return await registry.lookup("ttl", "victim")
            finally:
                await registry.aclose()

        # Heartbeats keep it alive past its 2 s TTL...
        wait_until(lambda: run(lookup()), what="the registrant's entry")
        os.kill(registrant.pid, signal.SIGKILL)
        registrant.wait()
        # ...and without them etcd drops it.
        wait_until(lambda: run(lookup()) == [], timeout=30, what="the entry to expire")
    finally:
        registrant.kill()
        registrant.wait()


@pytest.mark.slow
def test_keepalive_on_an_expired_lease_raises_registration_lost(
    runtime: ModuleType, etcd: EtcdCluster
) -> None:
    me = make_instance(runtime, "orders", "expiring", realm="expiry")

    async def story() -> None:
        registry = runtime.registry.open_registry(etcd.registry_url)
        try:
            await registry.register(me, 1)
            while await registry.lookup("expiry", "orders"):  # no heartbeat: let it lapse
                await asyncio.sleep(0.2)
            # etcd answers this keepalive 200 with no TTL; the backend must read it as lost.
            with pytest.raises(runtime.registry.RegistrationLost):
                await registry.heartbeat(me, 1)
            await registry.register(me, 10)
            await registry.heartbeat(me, 10)
            assert names(await registry.lookup("expiry", "orders")) == ["expiring"]
        finally:
            await registry.aclose()

    run(story())


@pytest.mark.slow
def test_registration_and_discovery_carry_on_when_one_of_three_members_dies(
    runtime: ModuleType, tmp_path: Path
) -> None:
    unavailable = runtime.registry.RegistryUnavailable
    before = make_instance(runtime, "orders", "before-kill", realm="ha")
    after = make_instance(runtime, "orders", "after-kill", realm="ha")

    with etcd_cluster(tmp_path, size=3) as cluster:

        async def story() -> None:
            writer = runtime.registry.open_registry(cluster.registry_url)
            reader = runtime.registry.open_registry(cluster.registry_url)
            try:
                await writer.register(before, 10)
                # Kill the very member the writer talks to, so that it must fail over.
                victim = next(m for m in cluster.members if m.client_url == writer.current_endpoint)
                victim.kill()
                await eventually(lambda: writer.heartbeat(before, 10), unavailable)
                await eventually(lambda: writer.register(after, 10), unavailable)
                assert writer.current_endpoint != victim.client_url
                found = await eventually(lambda: reader.lookup("ha", "orders"), unavailable)
                assert names(found) == ["after-kill", "before-kill"]
            finally:
                await writer.aclose()
                await reader.aclose()

        run(story())


@pytest.mark.slow
def test_backend_raises_unavailable_until_etcd_starts(runtime: ModuleType, tmp_path: Path) -> None:
    cluster = plan_cluster(tmp_path)  # ports assigned, nothing started
    me = make_instance(runtime, "orders", "early", realm="late")
    try:

        async def before_start() -> None:
            registry = runtime.registry.open_registry(cluster.registry_url)
            try:
                with pytest.raises(runtime.registry.RegistryUnavailable):
                    await registry.register(me, 10)
                with pytest.raises(runtime.registry.RegistryUnavailable):
                    await registry.lookup("late", "orders")
            finally:
                await registry.aclose()

        run(before_start())
        cluster.start()

        async def after_start() -> list[Any]:
            registry = runtime.registry.open_registry(cluster.registry_url)
            try:
                await registry.register(me, 10)
                return await registry.lookup("late", "orders")
            finally:
                await registry.aclose()

        assert names(run(after_start())) == ["early"]
    finally:
        cluster.kill_all()


@pytest.mark.slow
def test_registrar_registers_by_itself_once_etcd_comes_up(runtime: ModuleType, tmp_path: Path) -> None:
    from svc_under_test.runtime.registrar import Registrar

    cluster = plan_cluster(tmp_path)
    me = make_instance(runtime, "orders", "patient", realm="late-registrar")
    try:

        async def story() -> None:
            registry = runtime.registry.open_registry(cluster.registry_url)
            registrar = Registrar(registry, me, ttl=3, backoff_cap=0.5)
            try:
                registrar.start()
                await asyncio.sleep(1.0)  # a few failed attempts against nothing
                assert not registrar.registered
                await asyncio.to_thread(cluster.start)
                while not registrar.registered:
                    await asyncio.sleep(0.1)
                assert names(await registry.lookup("late-registrar", "orders")) == ["patient"]
            finally:
                await registrar.stop()
                await registry.aclose()

        run(story())
    finally:
        cluster.kill_all()


@pytest.mark.slow
def test_values_are_the_shared_json_format(runtime: ModuleType, etcd: EtcdCluster) -> None:
    """What other tools read: the key, and a JSON value with the agreed fields, base64 on the wire."""
    import base64
    import json

    me = make_instance(runtime, "orders", "wire", realm="wire", port=8123)

    async def story() -> None:
        registry = runtime.registry.open_registry(etcd.registry_url)
        try:
            await registry.register(me, 10)
        finally:
            await registry.aclose()

    run(story())
    key = base64.b64encode(b"/services/wire/orders/wire").decode()
    answer = httpx.post(f"{etcd.endpoints[0]}/v3/kv/range", json={"key": key}, trust_env=False)
    [kv] = answer.json()["kvs"]
    assert "lease" in kv
    value = json.loads(base64.b64decode(kv["value"]))
    assert value["port"] == 8123
    assert {"service", "realm", "instance", "address", "port", "url", "version", "started_at"} <= set(value)
