"""`svc traffic PATH [--follow] [--json]`, on traffic logs the generated service's smart client writes.

The smart client (the template's runtime, imported here) calls a real local HTTP server, and a
closed port, with `traffic_log` set; svc reads the HAR file it leaves, once or as it grows.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from click.testing import CliRunner
from etcd_cluster import import_runtime
from har import har_errors
from helpers import serving, wait_until

from scaffold.cli import main


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return import_runtime(tmp_path_factory.mktemp("runtime"))


@pytest.fixture
def server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def call(runtime: ModuleType, har: Path, url: str) -> None:
    """One smart-client call to `url`, recorded in `har`; a failed call is recorded too."""
    client = runtime.client.SyncSmartClient(None, "test", traffic_log=har)
    try:
        client.get(url)
    except httpx.TransportError:
        pass
    finally:
        client.close()


def test_svc_traffic_prints_the_recorded_calls_as_a_table_and_as_json(
    runtime: ModuleType, server: str, tmp_path: Path
) -> None:
    har = tmp_path / "traffic.har"
    dead = closed_port_url()
    call(runtime, har, f"{server}/v1/users/42")
    call(runtime, har, f"{dead}/v1/users/43")
    assert har_errors(json.loads(har.read_text())) == []

    table = CliRunner().invoke(main, ["traffic", str(har)], env={"COLUMNS": "200"})
    as_json = CliRunner().invoke(main, ["traffic", str(har), "--json"])

    assert table.exit_code == 0, table.output
    [header, answered, failed] = table.output.splitlines()
    assert header.split() == ["started", "method", "url", "status", "ms", "instance", "retries"]
    assert answered.split()[1:4] == ["GET", f"{server}/v1/users/42", "200"]
    assert failed.split()[1:4] == ["GET", f"{dead}/v1/users/43", "ConnectError"]
    assert as_json.exit_code == 0, as_json.output
    exchanges = json.loads(as_json.output)
    assert [(e["url"], e["status"], e["error"]) for e in exchanges] == [
        (f"{server}/v1/users/42", 200, None),
        (f"{dead}/v1/users/43", 0, "ConnectError"),
    ]
    assert exchanges[1]["retries"] >= 1


def test_svc_traffic_follow_prints_calls_as_they_are_recorded(
    runtime: ModuleType, server: str, tmp_path: Path
) -> None:
    har = tmp_path / "traffic.har"
    # Started before the service has written anything: it waits for the file.
    follower = subprocess.Popen(
        [sys.executable, "-m", "scaffold", "traffic", str(har), "--follow", "--json"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    printed: queue.Queue[str] = queue.Queue()
    assert follower.stdout is not None
    stdout = follower.stdout

    def read() -> None:
        for line in stdout:
            printed.put(line)

    threading.Thread(target=read, daemon=True).start()
    seen: list[dict[str, object]] = []

    def printed_calls(count: int) -> bool:
        while not printed.empty():
            seen.append(json.loads(printed.get()))
        return len(seen) >= count

    try:
        call(runtime, har, f"{server}/first")
        wait_until(lambda: printed_calls(1), timeout=20, what="the first call to be printed")
        call(runtime, har, f"{server}/second")
        call(runtime, har, f"{server}/third")
        wait_until(lambda: printed_calls(3), timeout=20, what="the next calls to be printed")
    finally:
        follower.terminate()
        follower.wait(timeout=10)

    assert [exchange["url"] for exchange in seen] == [
        f"{server}/first",
        f"{server}/second",
        f"{server}/third",
    ]


def test_svc_traffic_says_when_there_is_no_log(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["traffic", str(tmp_path / "missing.har")])

    assert result.exit_code == 2
    assert "There is no traffic log at" in result.output
    assert "SVC_TRAFFIC_LOG" in result.output
