# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Log lines: one JSON object per line with the service's identity, request ids end to end,
and nothing in them that must not be: secrets, local variables, lines Docker would split."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from billing2.app import create_app
from billing2.runtime import SmartClient, get_logger
from billing2.settings import Settings

DOCKER_LINE_LIMIT = 16 * 1024
CARD_NUMBER = "4111111111111111"
API_KEY = "sk_live_51HqLyjWDarjtT1zdp7dcXYZ"
BEARER_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.s3cr3tSignature"  # noqa: S105 - made up
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REQUEST_ID = "checkout-7f3a"

# The service as `python -m billing2` runs it, plus a route that takes secrets and fails.
SERVER = """
from fastapi import Header
from pydantic import BaseModel

from billing2.app import create_app
from billing2.runtime import serve
from billing2.settings import Settings


class Payment(BaseModel):
    card_number: str


settings = Settings()
app = create_app(settings)


@app.post("/payments")
async def pay(payment: Payment, api_key: str, x_api_key: str = Header(), authorization: str = Header()):
    raise RuntimeError("the payment provider refused")


serve(app, settings)
"""


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"] == "request_finished"]


def test_every_line_carries_the_service_identity(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.get("/v1/greetings/Ada")

    lines = log_lines(capsys)

    assert lines
    for line in lines:
        assert line["service"] == "billing2"
        assert line["realm"] == "test"
        assert line["instance"].startswith("billing2-")
        assert {"version", "timestamp", "level", "logger", "event"} <= line.keys()


def test_a_request_line_says_what_was_asked_and_answered(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = client.get("/v1/greetings/Ada")

    [line] = request_lines(log_lines(capsys))

    assert line["method"] == "GET"
    assert line["route"] == "/v1/greetings/{name}"
    assert line["path"] == "/v1/greetings/Ada"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["request_id"] == response.headers["x-request-id"]


def test_an_incoming_request_id_is_kept_and_echoed(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = client.get("/v1/greetings/Ada", headers={"X-Request-ID": "lb-7f3a-42"})

    [line] = request_lines(log_lines(capsys))

    assert response.headers["x-request-id"] == "lb-7f3a-42"
    assert line["request_id"] == "lb-7f3a-42"


def test_a_malformed_request_id_is_replaced(client: TestClient) -> None:
    response = client.get("/v1/greetings/Ada", headers={"X-Request-ID": "x" * 500})

    assert response.headers["x-request-id"] != "x" * 500
    assert len(response.headers["x-request-id"]) == 32


def test_lines_of_standard_logging_go_through_the_same_pipeline(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger("uvicorn.error").warning("from the standard library")

    [line] = [line for line in log_lines(capsys) if line["event"] == "from the standard library"]

    assert line["logger"] == "uvicorn.error"
    assert line["level"] == "warning"
    assert line["service"] == "billing2"


def test_console_format_is_for_people(registry_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(realm="test", registry_url=registry_url, log_format="console")
    with TestClient(create_app(settings)) as client:
        client.get("/v1/greetings/Ada")

    out = capsys.readouterr().out

    assert "/v1/greetings/{name}" in out
    assert not out.lstrip().startswith("{")


@dataclass
class FailedPayment:
    """A real server's log after a request with secrets in its headers, query and body failed."""

    response: httpx.Response
    log: str
    lines: list[dict[str, Any]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_livez(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/livez", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail("the server did not answer /livez")


@pytest.fixture(scope="module")
def failed_payment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailedPayment]:
    work = tmp_path_factory.mktemp("failing")
    (work / "server.py").write_text(SERVER)
    port = free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SVC_REALM": "test",
        "SVC_REGISTRY_URL": f"sqlite://{work / 'registry.db'}",
        "SVC_LOG_FORMAT": "json",
        "SVC_DRAIN_SECONDS": "0",
    }
    log_path = work / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(work / "server.py")], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_livez(base, process)
        response = httpx.post(
            f"{base}/payments",
            params={"api_key": API_KEY},
            json={"card_number": CARD_NUMBER},
            headers={
                "Authorization": f"Bearer {BEARER_TOKEN}",
                "X-API-Key": API_KEY,
                "Cookie": f"session={BEARER_TOKEN}",
                "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
                "X-Request-ID": REQUEST_ID,
            },
            timeout=5,
        )
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    text = log_path.read_text()
    yield FailedPayment(response, text, [json.loads(line) for line in text.splitlines()])


def test_secrets_sent_to_a_failing_route_reach_no_log_line(failed_payment: FailedPayment) -> None:
    assert failed_payment.response.status_code == 500
    for secret in (CARD_NUMBER, API_KEY, BEARER_TOKEN):
        assert secret not in failed_payment.log


def test_a_failure_is_logged_once_in_its_request_s_context_without_locals(
    failed_payment: FailedPayment,
) -> None:
    [line] = [line for line in failed_payment.lines if "exception" in line]

    assert line["event"] == "request_failed"
    assert line["request_id"] == REQUEST_ID
    assert line["route"] == "/payments"
    assert line["status"] == 500
    assert line["trace_id"] == TRACE_ID
    [error] = line["exception"]
    assert error["exc_type"] == "RuntimeError"
    assert error["frames"][-1]["name"] == "pay"
    assert not [frame for frame in error["frames"] if "locals" in frame]


def test_every_line_fits_docker_s_line_limit(failed_payment: FailedPayment) -> None:
    for line in failed_payment.log.splitlines():
        assert len(line.encode()) < DOCKER_LINE_LIMIT


def test_event_names_of_the_platform_are_snake_case(failed_payment: FailedPayment) -> None:
    ours = [line["event"] for line in failed_payment.lines if line["logger"].startswith("billing2.")]

    assert {"starting", "registered", "request_failed", "shutdown_started", "deregistered"} <= set(ours)
    assert [event for event in ours if not re.fullmatch(r"[a-z][a-z0-9_]*", event)] == []


def test_a_long_line_is_cut_to_fit_and_says_so(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    get_logger("tests").warning("upstream_answer", body="x" * 100_000, items=list(range(10_000)))

    [raw] = capsys.readouterr().out.splitlines()
    line = json.loads(raw)

    assert len(raw.encode()) < DOCKER_LINE_LIMIT
    assert line["truncated"] is True
    assert line["body"].startswith("xxxx")
    assert line["event"] == "upstream_answer"


class SettingsWithSecrets(Settings):
    payment_api_key: SecretStr = SecretStr(API_KEY)
    webhook_signing_key: str = BEARER_TOKEN


def test_authorization_cookies_and_secret_settings_are_redacted(
    registry_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = SettingsWithSecrets(
        realm="test", registry_url=registry_url, log_redact_fields=frozenset({"webhook_signing_key"})
    )
    create_app(settings)
    log = get_logger("tests")
    capsys.readouterr()

    log.info(
        "incoming",
        headers={"Authorization": f"Bearer {BEARER_TOKEN}", "Cookie": "s=1", "Accept": "application/json"},
        raw_headers=[(b"set-cookie", BEARER_TOKEN.encode()), (b"accept", b"*/*")],
    )
    log.info("configured", settings=settings)
    log.info("calling", payment_api_key=settings.payment_api_key.get_secret_value())

    out = capsys.readouterr().out
    incoming, configured, calling = [json.loads(line) for line in out.splitlines()]
    assert API_KEY not in out
    assert BEARER_TOKEN not in out
    assert incoming["headers"] == {
        "Authorization": "[redacted]",
        "Cookie": "[redacted]",
        "Accept": "application/json",
    }
    assert incoming["raw_headers"][0][1] == "[redacted]"
    assert configured["settings"]["webhook_signing_key"] == "[redacted]"
    assert configured["settings"]["realm"] == "test"
    assert calling["payment_api_key"] == "[redacted]"


def test_a_smart_client_call_is_counted_but_logged_only_at_debug(
    app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = CollectorRegistry()

    async def call() -> int:
        transport = httpx.ASGITransport(app=app)
        async with SmartClient(None, "test", transport=transport, metrics_registry=metrics) as client:
            return (await client.get("http://billing2.test/livez")).status_code

    capsys.readouterr()
    assert asyncio.run(call()) == 200

    events = [line["event"] for line in log_lines(capsys)]
    assert "client_request" not in events
    labels = {"target": "billing2.test", "method": "GET", "status": "200"}
    assert metrics.get_sample_value("http_client_requests_total", labels) == 1
