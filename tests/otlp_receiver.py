"""An OTLP/HTTP trace receiver inside the test, as a tracing backend collects services' spans.

The `receiver` fixture (conftest.py) starts one on a loopback port; point a service's
`OTEL_EXPORTER_OTLP_ENDPOINT` at its `endpoint` and read back what the process exported.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from helpers import serving
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: str  # "SERVER" or "CLIENT"
    trace_id: str
    span_id: str
    parent_id: str  # "" for a trace's root


@dataclass
class OtlpReceiver:
    """An OTLP/HTTP trace receiver (protobuf): the spans every process exported to it."""

    endpoint: str
    spans: list[Span] = field(default_factory=list)

    def one(self, service: str, kind: str) -> Span | None:
        found = [span for span in self.spans if span.service == service and span.kind == kind]
        return found[0] if len(found) == 1 else None


def _decode(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        service=attributes["service.name"],
                        name=span.name,
                        kind=SpanMessage.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                    )
                )
    return spans


@contextlib.contextmanager
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A receiver listening on a free loopback port until the block ends."""
    lock = threading.Lock()
    collected: list[Span] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
                self.send_error(404)
                return
            with lock:
                collected.extend(_decode(body))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            with contextlib.suppress(ConnectionError):  # a process killed at teardown stops listening
                self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield OtlpReceiver(url, collected)


def request_line(lines: list[dict[str, object]], path: str) -> dict[str, object]:
    """The access line (`request_finished`) of the one request for `path` among a service's log
    lines, or {} while it is not written yet."""
    found = [line for line in lines if line.get("event") == "request_finished" and line.get("path") == path]
    return found[0] if len(found) == 1 else {}
