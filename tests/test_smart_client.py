"""The generated service's smart client, against real uvicorn servers and real registries.

Servers are small ASGI apps run by uvicorn in their own processes on loopback; each
counts the requests it receives per path (``/_hits?path=...``), so the tests count
attempts where they land. Services in the registry:

- ``echo``: two instances, alpha and beta (and, in another realm, gamma);
- ``solo``: alpha alone, so that retries land on one server and can be counted there.

Every test runs once against etcd and once against the SQLite registry.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import httpx
import pytest
from etcd_cluster import etcd_cluster, import_runtime
from helpers import free_port, wait_until
from prometheus_client import REGISTRY

T = TypeVar("T")

pytestmark = pytest.mark.slow

ECHO_APP = textwrap.dedent(
    '''
    """Answers who it is; fails the first `fail` hits of a path with `code` (or is slow)."""
    import asyncio, json, os, time
    from urllib.parse import parse_qsl

    NAME = os.environ["ECHO_NAME"]
    HITS = {}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        query = dict(parse_qsl(scope["query_string"].decode()))
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if scope["path"] == "/_hits":
            return await reply(send, 200, HITS.get(query["path"], []))
        hits = HITS.setdefault(scope["path"], [])
        hits.append(time.time())
        status, extra = 200, []
        if len(hits) <= int(query.get("fail", "0")):
            if query.get("code") == "slow":
                await asyncio.sleep(float(query.get("delay", "3")))
            else:
                status = int(query.get("code", "503"))
                if "retry_after" in query:
                    extra.append((b"retry-after", query["retry_after"].encode()))
        await reply(send, status, {
            "server": NAME, "method": scope["method"], "hit": len(hits), "body": body.decode(),
            "request_id": headers.get("x-request-id"),
        }, extra)

    async def reply(send, status, payload, extra=()):
        data = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()), *extra]})
        await send({"type": "http.response.body", "body": data})
    '''
)


@dataclass
class EchoServer:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, path: str) -> list[float]:
        if self.process.poll() is not None:
            return []
        answer = httpx.get(f"{self.url}/_hits", params={"path": path}, trust_env=False)
        return list(answer.json())

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def start_echo(app_dir: Path, name: str, at_port: int | None = None) -> EchoServer:
    """Run the echo app under uvicorn on `at_port`, else on a free loopback port (another one if taken)."""
    for _ in range(3 if at_port is None else 1):
        port = at_port or free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--app-dir",
                str(app_dir),
                "echo_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env={**os.environ, "ECHO_NAME": name},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = EchoServer(name, port, process)

        def up(server: EchoServer = server) -> bool:
            if server.process.poll() is not None:
                return True  # exited: stop waiting and try another port
            try:
                server.hits("/")
            except httpx.HTTPError:
                return False
            return True

        wait_until(up, timeout=30, what=f"echo server {name}")
        if process.poll() is None:
            return server
    raise AssertionError(f"echo server {name} would not start")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return import_runtime(tmp_path_factory.mktemp("runtime"))


@pytest.fixture(scope="module")
def client_module(runtime: ModuleType) -> ModuleType:
    from svc_under_test.runtime import client

    return client


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("echo")
    (folder / "echo_app.py").write_text(ECHO_APP)
    return folder


@pytest.fixture(scope="module")
def servers(app_dir: Path) -> Iterator[dict[str, EchoServer]]:
    started: dict[str, EchoServer] = {}
    try:
        for name in ("alpha", "beta", "gamma"):
            started[name] = start_echo(app_dir, name)
        yield started
    finally:
        for server in started.values():
            server.kill()


@dataclass
class Backend:
    name: str
    url: str
    runtime: ModuleType

    def open(self) -> Any:
        return self.runtime.registry.open_registry(self.url)

    def instance(self, service: str, server: EchoServer, realm: str = "dev") -> Any:
        return self.runtime.registry.Instance(
            service=service,
            realm=realm,
            instance=f"{service}-{server.name}",
            address="127.0.0.1",
            port=server.port,
            url=server.url,
            version="1.0.0",
            started_at="2026-01-01T00:00:00Z",
        )

    def register(self, *entries: Any) -> None:
        async def go() -> None:
            registry = self.open()
            try:
                for entry in entries:
                    await registry.register(entry, 300)  # outlives the module; no heartbeats
            finally:
                await registry.aclose()

        asyncio.run(go())


@pytest.fixture(scope="module", params=["etcd", "sqlite"])
def backend(
    request: pytest.FixtureRequest,
    runtime: ModuleType,
    servers: dict[str, EchoServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Backend]:
    root = tmp_path_factory.mktemp(f"registry-{request.param}")
    if request.param == "etcd":
        with etcd_cluster(root) as cluster:
            yield _populated(Backend("etcd", cluster.registry_url, runtime), servers)
    else:
        yield _populated(Backend("sqlite", f"sqlite:///{root / 'registry.db'}", runtime), servers)


def _populated(backend: Backend, servers: dict[str, EchoServer]) -> Backend:
    backend.register(
        backend.instance("echo", servers["alpha"]),
        backend.instance("echo", servers["beta"]),
        backend.instance("echo", servers["gamma"], realm="staging"),
        backend.instance("solo", servers["alpha"]),
    )
    return backend


def call(
    backend: Backend,
    client_module: ModuleType,
    story: Callable[[Any], Awaitable[T]],
    **client_options: Any,
) -> T:
    """Run ``story(client)`` with a fresh SmartClient in realm dev, on a fresh event loop."""

    async def main() -> T:
        registry = backend.open()
        try:
            async with client_module.SmartClient(registry, "dev", **client_options) as client:
                return await story(client)
        finally:
            await registry.aclose()

    return asyncio.run(main())


def path_for(request: pytest.FixtureRequest, backend: Backend, name: str) -> str:
    """A path no other test (or backend run) uses, so hit counts start at zero."""
    test = request.node.originalname.removeprefix("test_")
    return f"/{backend.name}/{test}/{name}"


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_service_urls_resolve_within_the_callers_realm(
    backend: Backend, client_module: ModuleType, servers: dict[str, EchoServer]
) -> None:
    async def story(client: Any) -> set[str]:
        seen = set()
        for _ in range(30):
            response = await client.get("service://echo/whoami")
            assert response.status_code == 200
            seen.add(response.json()["server"])
        return seen

    # gamma is echo in realm "staging": never reached from "dev".
    assert call(backend, client_module, story) == {"alpha", "beta"}


def test_plain_urls_pass_through_unchanged(
    backend: Backend, client_module: ModuleType, servers: dict[str, EchoServer]
) -> None:
    async def story(client: Any) -> str:
        response = await client.get(f"{servers['gamma'].url}/whoami")
        return str(response.json()["server"])

    assert call(backend, client_module, story) == "gamma"


def test_unknown_service_raises_service_not_found(backend: Backend, client_module: ModuleType) -> None:
    async def story(client: Any) -> None:
        with pytest.raises(client_module.ServiceNotFound):
            await client.get("service://nobody/whoami")

    call(backend, client_module, story)


def test_request_id_is_propagated(backend: Backend, client_module: ModuleType) -> None:
    from svc_under_test.runtime.logs import REQUEST_ID

    async def story(client: Any) -> tuple[str, str]:
        REQUEST_ID.set("req-from-caller")
        implicit = await client.get("service://echo/whoami")
        explicit = await client.get("service://echo/whoami", headers={"X-Request-ID": "mine"})
        return implicit.json()["request_id"], explicit.json()["request_id"]

    assert call(backend, client_module, story) == ("req-from-caller", "mine")


def test_get_is_retried_after_503(
    request: pytest.FixtureRequest,
    backend: Backend,
    client_module: ModuleType,
    servers: dict[str, EchoServer],
) -> None:
    path = path_for(request, backend, "flaky")

    async def story(client: Any) -> int:
        response = await client.get(f"service://solo{path}", params={"fail": 1})
        return int(response.status_code)

    assert call(backend, client_module, story) == 200
    assert len(servers["alpha"].hits(path)) == 2


def test_post_is_retried_only_with_an_idempotency_key(
    request: pytest.FixtureRequest,
    backend: Backend,
    client_module: ModuleType,
    servers: dict[str, EchoServer],
) -> None:
    bare = path_for(request, backend, "bare")
    keyed = path_for(request, backend, "keyed")

    async def story(client: Any) -> tuple[int, int]:
        without = await client.post(f"service://solo{bare}?fail=1", json={"n": 1})
        with_key = await client.post(
            f"service://solo{keyed}?fail=1", json={"n": 1}, headers={"Idempotency-Key": "k-1"}
        )
        return without.status_code, with_key.status_code

    assert call(backend, client_module, story) == (503, 200)
    assert len(servers["alpha"].hits(bare)) == 1
    assert len(servers["alpha"].hits(keyed)) == 2


def test_read_timeout_is_retried_only_for_idempotent_methods(
    request: pytest.FixtureRequest,
    backend: Backend,
    client_module: ModuleType,
    servers: dict[str, EchoServer],
) -> None:
    get_path = path_for(request, backend, "get")
    post_path = path_for(request, backend, "post")
    slow_once = {"fail": 1, "code": "slow", "delay": 3}

    async def story(client: Any) -> int:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"service://solo{post_path}", params=slow_once)
        response = await client.get(f"service://solo{get_path}", params=slow_once)
        return int(response.status_code)

    timeout = httpx.Timeout(2.0, read=0.3)
    assert call(backend, client_module, story, timeout=timeout) == 200
    assert len(servers["alpha"].hits(post_path)) == 1
    assert len(servers["alpha"].hits(get_path)) == 2


def test_429_is_retried_after_the_time_retry_after_asks(
    request: pytest.FixtureRequest,
    backend: Backend,
    client_module: ModuleType,
    servers: dict[str, EchoServer],
) -> None:
    honoured = path_for(request, backend, "honoured")
    too_long = path_for(request, backend, "too-long")

    async def story(client: Any) -> tuple[int, int]:
        # 429 was refused before any processing: safe to retry even a POST.
        first = await client.post(f"service://solo{honoured}?fail=1&code=429&retry_after=1")
        # Waiting 60 s would overrun the 5 s deadline: the 429 itself is the answer.
        second = await client.get(f"service://solo{too_long}?fail=1&code=429&retry_after=60")
        return first.status_code, second.status_code

    assert call(backend, client_module, story) == (200, 429)
    hits = servers["alpha"].hits(honoured)
    assert len(hits) == 2
    assert hits[1] - hits[0] >= 0.9  # the server's own clock: it waited as asked
    assert len(servers["alpha"].hits(too_long)) == 1


def test_retry_budget_holds_under_a_dead_dependency(
    request: pytest.FixtureRequest,
    backend: Backend,
    client_module: ModuleType,
    servers: dict[str, EchoServer],
) -> None:
    path = path_for(request, backend, "dead")
    calls = 40
    # No per-second floor: only the 20 % share of recent requests may be retried.
    policy = client_module.RetryPolicy(budget_min_per_second=0.0, backoff_base=0.001)
    exhausted_before = metric("http_client_retry_budget_exhausted_total", target="solo")

    async def story(client: Any) -> list[int]:
        return [(await client.get(f"service://solo{path}?fail=1000000")).status_code for _ in range(calls)]

    assert call(backend, client_module, story, policy=policy) == [503] * calls
    attempts = len(servers["alpha"].hits(path))
    # Three attempts each would be 120; the budget allows 40 + 20 % of 40.
    assert calls <= attempts <= calls + calls * 0.2
    assert metric("http_client_retry_budget_exhausted_total", target="solo") > exhausted_before


def test_overall_deadline_bounds_a_call(
    request: pytest.FixtureRequest, backend: Backend, client_module: ModuleType
) -> None:
    path = path_for(request, backend, "stuck")
    policy = client_module.RetryPolicy(deadline=1.0)

    async def story(client: Any) -> None:
        with pytest.raises(httpx.TimeoutException):
            await client.get(f"service://solo{path}?fail=100&code=slow&delay=5")

    call(backend, client_module, story, policy=policy)


def test_sync_client_resolves_retries_and_propagates_request_id(
    request: pytest.FixtureRequest,
    backend: Backend,
    client_module: ModuleType,
    servers: dict[str, EchoServer],
) -> None:
    from svc_under_test.runtime.logs import REQUEST_ID

    path = path_for(request, backend, "sync")
    registry = backend.open()
    token = REQUEST_ID.set("sync-caller")
    try:
        with client_module.SyncSmartClient(registry, "dev") as client:
            response = client.post(
                f"service://solo{path}?fail=1", content=b"payload", headers={"Idempotency-Key": "s"}
            )
            whoami = client.get("service://echo/whoami").json()
    finally:
        REQUEST_ID.reset(token)  # the client closed the registry, on its own loop
    assert response.status_code == 200
    assert response.json()["body"] == "payload"
    assert response.json()["request_id"] == "sync-caller"
    assert whoami["server"] in {"alpha", "beta"}
    assert len(servers["alpha"].hits(path)) == 2


def test_calls_succeed_when_one_of_two_instances_is_killed(
    request: pytest.FixtureRequest,
    backend: Backend,
    client_module: ModuleType,
    app_dir: Path,
) -> None:
    from svc_under_test.runtime.balancer import Balancer

    service = f"fragile-{backend.name}"
    survivor, victim = start_echo(app_dir, "survivor"), start_echo(app_dir, "victim")
    try:
        backend.register(backend.instance(service, survivor), backend.instance(service, victim))
        victim.kill()  # still registered: its entry outlives it until the TTL runs out
        retries_before = metric("http_client_retries_total", target=service, reason="connect")

        async def story(client: Any) -> list[tuple[int, str]]:
            results = []
            for index in range(20):
                # POST without a key too: a refused connection never reached anyone.
                method = "GET" if index % 2 else "POST"
                response = await client.request(method, f"service://{service}/whoami")
                results.append((response.status_code, response.json()["server"]))
            return results

        # A long set-aside period, so that a slow machine cannot see the victim come back.
        balancer = Balancer(aside_seconds=600)
        assert call(backend, client_module, story, balancer=balancer) == [(200, "survivor")] * 20
        # The victim was tried at most once: then it was set aside, not tried first again.
        retries = metric("http_client_retries_total", target=service, reason="connect")
        assert retries - retries_before <= 1
    finally:
        survivor.kill()
        victim.kill()


def test_a_new_instance_at_a_dead_ones_address_is_not_set_aside_for_it(
    request: pytest.FixtureRequest,
    backend: Backend,
    client_module: ModuleType,
    app_dir: Path,
) -> None:
    from svc_under_test.runtime.balancer import Balancer

    service = f"reborn-{backend.name}"
    survivor, victim = start_echo(app_dir, "survivor"), start_echo(app_dir, "victim")
    replacement = None
    try:
        backend.register(backend.instance(service, survivor), backend.instance(service, victim))
        victim.kill()

        async def story(client: Any) -> list[str]:
            # The dead instance is refused once, then set aside (for long: see the balancer).
            for _ in range(4):
                await client.get(f"service://{service}/whoami")
            nonlocal replacement
            replacement = start_echo(app_dir, "replacement", at_port=victim.port)
            registry = backend.open()
            try:
                await registry.deregister(backend.instance(service, victim))
                await registry.register(backend.instance(service, replacement), 300)
            finally:
                await registry.aclose()
            return [(await client.get(f"service://{service}/whoami")).json()["server"] for _ in range(20)]

        seen = call(backend, client_module, story, balancer=Balancer(aside_seconds=600), cache_ttl=0)
        # Least-outstanding with random ties spreads sequential calls over both healthy instances.
        assert "replacement" in seen
        assert set(seen) == {"survivor", "replacement"}
    finally:
        for server in (survivor, victim, replacement):
            if server is not None:
                server.kill()


def test_calls_go_on_with_the_last_known_instances_when_etcd_dies(
    runtime: ModuleType, client_module: ModuleType, servers: dict[str, EchoServer], tmp_path: Path
) -> None:
    with etcd_cluster(tmp_path) as cluster:
        backend = Backend("etcd-outage", cluster.registry_url, runtime)
        backend.register(backend.instance("steady", servers["beta"]))

        async def story(client: Any) -> list[str]:
            servers_seen = [(await client.get("service://steady/whoami")).json()["server"]]
            cluster.kill_all()
            await asyncio.sleep(0.3)  # the cached list (cache_ttl 0.1 s) is stale now
            servers_seen.append((await client.get("service://steady/whoami")).json()["server"])
            return servers_seen

        assert call(backend, client_module, story, cache_ttl=0.1) == ["beta", "beta"]
