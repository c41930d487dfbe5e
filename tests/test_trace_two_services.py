"""One trace across two generated services, and the caller's traffic log, from real servers.

billing calls identity with the smart client (the route of test_two_services). Both export
their spans over OTLP/HTTP to a receiver the test runs, as a tracing backend would collect
them; billing also records its calls in a traffic log (`SVC_TRAFFIC_LOG`), which must be a
valid HAR 1.2 document that `svc traffic` prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from har import har_errors
from helpers import free_port, wait_until
from otlp_receiver import OtlpReceiver, Span, request_line
from test_two_services import Service, start, whois_pair

from scaffold.cli import main

pytestmark = pytest.mark.slow


@dataclass
class TracedFleet:
    billing: Service
    identity: Service
    traffic_log: Path


@pytest.fixture
def fleet(tmp_path: Path, receiver: OtlpReceiver) -> Iterator[TracedFleet]:
    identity, billing, logs = whois_pair(tmp_path)
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    traffic_log = tmp_path / "billing-traffic.har"
    # Spans leave in batches: a short delay brings them to the receiver while the test waits.
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    services: list[Service] = []
    try:
        services.append(
            start(identity, "identity-1", "identity", registry_url, logs, port=free_port(), env=otel)
        )
        services.append(
            start(
                billing,
                "billing-1",
                "billing.with_whois",
                registry_url,
                logs,
                port=free_port(),
                env={**otel, "SVC_TRAFFIC_LOG": str(traffic_log)},
            )
        )
        yield TracedFleet(billing=services[1], identity=services[0], traffic_log=traffic_log)
    finally:
        for service in services:
            if service.process.poll() is None:
                service.process.kill()
                service.process.wait()


def test_a_call_from_one_service_to_another_is_one_trace(fleet: TracedFleet, receiver: OtlpReceiver) -> None:
    answer = httpx.get(f"{fleet.billing.url}/v1/whois/ada", trust_env=False)
    assert answer.status_code == 200, answer.text

    def three_spans() -> list[Span]:
        spans = [
            receiver.one("billing", "SERVER"),
            receiver.one("billing", "CLIENT"),
            receiver.one("identity", "SERVER"),
        ]
        return [span for span in spans if span is not None] if None not in spans else []

    billing_server, billing_client, identity_server = wait_until(
        three_spans, timeout=20, what="billing's and identity's spans at the OTLP receiver"
    )
    assert billing_server.name == "GET /v1/whois/{name}"
    assert identity_server.name == "GET /v1/greetings/{name}"
    # One trace: billing's request is its root, the call its child, identity's request the call's child.
    assert billing_server.trace_id == billing_client.trace_id == identity_server.trace_id
    assert billing_server.parent_id == ""
    assert billing_client.parent_id == billing_server.span_id
    assert identity_server.parent_id == billing_client.span_id

    # Each service's log line of the request names the trace and its own span.
    billing_line = wait_until(
        lambda: request_line(fleet.billing.log_lines(), "/v1/whois/ada"), what="billing's line"
    )
    identity_line = wait_until(
        lambda: request_line(fleet.identity.log_lines(), "/v1/greetings/ada"), what="identity's line"
    )
    assert (billing_line["trace_id"], billing_line["span_id"]) == (
        billing_server.trace_id,
        billing_server.span_id,
    )
    assert (identity_line["trace_id"], identity_line["span_id"]) == (
        identity_server.trace_id,
        identity_server.span_id,
    )


def test_the_caller_s_traffic_log_is_a_har_file_that_svc_traffic_prints(fleet: TracedFleet) -> None:
    for name in ("ada", "bob"):
        answer = httpx.get(f"{fleet.billing.url}/v1/whois/{name}", trust_env=False)
        assert answer.status_code == 200, answer.text

    document = json.loads(fleet.traffic_log.read_text())
    assert har_errors(document) == []
    [ada, bob] = document["log"]["entries"]
    assert ada["request"]["url"] == f"{fleet.identity.url}/v1/greetings/ada"
    assert ada["_service"] == "service://identity/v1/greetings/ada"
    assert ada["_instance"].endswith("/identity-1")
    assert json.loads(bob["response"]["content"]["text"]) == {"message": "Hello, bob!"}

    printed = CliRunner().invoke(main, ["traffic", str(fleet.traffic_log), "--json"])
    assert printed.exit_code == 0, printed.output
    exchanges = json.loads(printed.output)
    assert [(e["method"], e["url"], e["status"], e["instance"]) for e in exchanges] == [
        ("GET", f"{fleet.identity.url}/v1/greetings/{name}", 200, ada["_instance"]) for name in ("ada", "bob")
    ]
    table = CliRunner().invoke(main, ["traffic", str(fleet.traffic_log)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert f"{fleet.identity.url}/v1/greetings/bob" in table.output
