# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""A real server process: it registers only once it serves and is ready, and stops gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from billing3.runtime.registry import Instance, open_registry

# The service as `python -m billing3` runs it, plus a slow route to have a request in flight.
SERVER = """
import asyncio
from billing3.app import create_app
from billing3.runtime import serve
from billing3.settings import Settings

settings = Settings()
app = create_app(settings)


@app.get("/slow")
async def slow() -> dict[str, bool]:
    await asyncio.sleep(3)
    return {"done": True}


serve(app, settings)
"""


# The team's startup code, held until the test creates the file GATE names.
SLOW_STARTUP = """
import asyncio, os
from contextlib import asynccontextmanager
from pathlib import Path
from billing3.runtime import build_app, serve
from billing3.settings import Settings

GATE = Path(os.environ["GATE"])


@asynccontextmanager
async def warm_up(app):
    GATE.with_suffix(".waiting").touch()
    while not GATE.exists():
        await asyncio.sleep(0.05)
    yield


settings = Settings()
serve(build_app(settings, lifespan=warm_up), settings)
"""

# The service with a critical readiness check that fails while the file FLAG names exists.
FLAKY_DEPENDENCY = """
import os
from pathlib import Path
from billing3.app import create_app
from billing3.runtime import get_platform, serve
from billing3.settings import Settings

FLAG = Path(os.environ["FLAG"])


async def database() -> None:
    if FLAG.exists():
        raise ConnectionError("the database is down")


settings = Settings()
app = create_app(settings)
get_platform(app).health.add_check("database", database)
serve(app, settings)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.05)


def status_of(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return None


def in_flight(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=2).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_in_progress{")
    )


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def log_events(self) -> list[str]:
        lines = self.stdout.read_text().splitlines()
        return [json.loads(line)["event"] for line in lines if line.startswith("{")]


Launch = Callable[..., Server]


@pytest.fixture
def launch(tmp_path: Path, registry_url: str) -> Iterator[Launch]:
    """Starts `script` (the service by default) as its own process; `env` adds to a clean environment."""
    started: list[Server] = []

    def start(script: str = SERVER, **env: str) -> Server:
        name = f"server-{len(started)}"
        path = tmp_path / f"{name}.py"
        path.write_text(script)
        clean = {
            key: value for key, value in os.environ.items() if key != "PORT" and not key.startswith("SVC_")
        }
        environment = {
            **clean,
            "HOST": "127.0.0.1",
            "SVC_REALM": "test",
            "SVC_REGISTRY_URL": registry_url,
            "SVC_REGISTRY_TTL_SECONDS": "1.5",
            "SVC_HEALTH_CACHE_SECONDS": "0",
            **env,
        }
        stdout, stderr = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen([sys.executable, str(path)], env=environment, stdout=out, stderr=err)
        started.append(Server(process, stdout, stderr))
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            if server.process.poll() is None:
                server.process.kill()
            server.process.wait()


@pytest.fixture
def server(launch: Launch) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    started = launch(PORT=str(port), SVC_DRAIN_SECONDS="2", SVC_SHUTDOWN_GRACE_SECONDS="10")
    return started.process, f"http://127.0.0.1:{port}", started.stdout


def live(registry_url: str) -> list[Instance]:
    return asyncio.run(open_registry(registry_url).lookup("test", "billing3"))


def test_sigterm_drains_deregisters_and_exits_zero(
    server: tuple[subprocess.Popen[bytes], str, Path], registry_url: str
) -> None:
    process, base, log_path = server
    wait_until(lambda: status_of(f"{base}/readyz") == 200, "the server to become ready")
    wait_until(lambda: len(live(registry_url)) == 1, "the instance to register")

    with ThreadPoolExecutor(1) as pool:
        slow: Future[httpx.Response] = pool.submit(httpx.get, f"{base}/slow", timeout=15)
        wait_until(lambda: in_flight(base) >= 2, "the slow request to be in flight")  # it and the scrape
        process.send_signal(signal.SIGTERM)

        wait_until(lambda: status_of(f"{base}/readyz") == 503, "readiness to fail")
        assert status_of(f"{base}/livez") == 200
        wait_until(lambda: live(registry_url) == [], "the instance to deregister")
        assert slow.result().json() == {"done": True}

    assert process.wait(timeout=15) == 0
    events = [json.loads(line)["event"] for line in log_path.read_text().splitlines() if line.startswith("{")]
    order = [
        "shutdown_started",
        "registry_heartbeats_stopped",
        "deregistered",
        "Shutting down",
    ]
    assert [event for event in events if event in order] == order


def test_an_instance_is_listed_only_once_its_startup_code_is_done(
    launch: Launch, tmp_path: Path, registry_url: str
) -> None:
    gate = tmp_path / "gate"
    started = launch(SLOW_STARTUP, GATE=str(gate))
    wait_until(gate.with_suffix(".waiting").exists, "the startup code to run")

    # The old order registered before the team's startup code ran: it would be listed by now.
    assert live(registry_url) == []
    gate.touch()

    wait_until(lambda: len(live(registry_url)) == 1, "the instance to register")
    [me] = live(registry_url)
    assert status_of(f"{me.url}/livez") == 200
    assert started.process.poll() is None


def test_an_instance_whose_readiness_fails_is_unlisted_until_it_passes(
    launch: Launch, tmp_path: Path, registry_url: str
) -> None:
    flag = tmp_path / "database-down"
    launch(FLAKY_DEPENDENCY, FLAG=str(flag), PORT="0")
    wait_until(lambda: len(live(registry_url)) == 1, "the instance to register")
    [me] = live(registry_url)

    flag.touch()
    wait_until(lambda: live(registry_url) == [], "the instance that is not ready to deregister")
    assert status_of(f"{me.url}/readyz") == 503
    assert status_of(f"{me.url}/livez") == 200

    flag.unlink()
    wait_until(lambda: live(registry_url) == [me], "the ready instance to register again, as it was")


def test_port_0_registers_the_port_it_bound(launch: Launch, registry_url: str) -> None:
    launch(PORT="0")

    wait_until(lambda: len(live(registry_url)) == 1, "the instance to register")
    [me] = live(registry_url)
    assert me.port != 0
    assert me.url == f"http://127.0.0.1:{me.port}"
    assert status_of(f"{me.url}/livez") == 200


def test_a_taken_explicit_port_exits_2_with_one_line_and_never_registers(
    launch: Launch, registry_url: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        loser = launch(PORT=str(port))

        assert loser.process.wait(timeout=30) == 2

    [line] = loser.stderr.read_text().splitlines()
    assert f"PORT={port}" in line and "taken" in line
    assert "registered" not in loser.log_events()
    assert live(registry_url) == []


def test_an_unset_port_takes_the_default_if_free_else_another(launch: Launch, registry_url: str) -> None:
    # Whichever of the two gets the default port (something else may hold it), both serve.
    first = launch()
    wait_until(lambda: len(live(registry_url)) == 1, "the first instance to register")
    second = launch()
    wait_until(lambda: len(live(registry_url)) == 2, "the second instance to register")

    ports = {instance.port for instance in live(registry_url)}
    assert len(ports) == 2
    assert all(status_of(f"http://127.0.0.1:{port}/livez") == 200 for port in ports)
    assert first.process.poll() is None and second.process.poll() is None
    logged = [
        json.loads(line)
        for server in (first, second)
        for line in server.stdout.read_text().splitlines()
        if line.startswith('{"') and '"listening"' in line
    ]
    assert {entry["port"] for entry in logged} == ports
