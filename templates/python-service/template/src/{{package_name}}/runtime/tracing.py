# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Traces with OpenTelemetry: a server span per request, a client span per smart-client call.

W3C `traceparent` goes both ways: a request that carries one continues the caller's trace,
and every smart-client call sends one, naming its client span as the parent of what the
callee does. The request's trace and span ids go on each of its log lines (logs.py).

Spans are exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, with the exporter's other standard `OTEL_*`
settings. Without it, the platform's spans are not recorded, only given ids: they still tie
log lines together and carry the trace on, at a fraction of the cost of recorded spans that
would go nowhere. `OTEL_SDK_DISABLED=true` turns tracing off: no spans, no `traceparent` sent.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_EXPORT_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class Tracing:
    """What configure_tracing() last chose; the middleware and the smart client read it per call."""

    on = False
    tracer: trace.Tracer | None = None  # None: spans are given ids but not recorded
    provider: TracerProvider | None = None


def configure_tracing(resource: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> None:
    """Turn tracing on (unless `OTEL_SDK_DISABLED=true`) for spans that name `resource` as their source."""
    previous = Tracing.provider
    if previous is not None and previous is not trace.get_tracer_provider():
        previous.shutdown()  # a second app in one process (tests): the first one's spans are sent
    Tracing.on = environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"
    Tracing.tracer = Tracing.provider = None
    if not Tracing.on:
        return
    provider = TracerProvider(resource=Resource.create(dict(resource)))
    # The global provider is the team's way in (`trace.get_tracer(__name__)`); it can be set once.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    Tracing.provider = provider
    if any(environ.get(name) for name in _EXPORT_ENDPOINTS):
        # Imported only when used: the exporter pulls in protobuf and requests.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        Tracing.tracer = provider.get_tracer("svc.platform")


def flush_traces() -> None:
    """Send the spans still buffered (before the process exits)."""
    if Tracing.provider is not None:
        Tracing.provider.force_flush(timeout_millis=2000)


@dataclass(slots=True)
class ServerSpan:
    """The span of the request being served, current while it is.

    When spans are exported it is a recorded OpenTelemetry span, current in OpenTelemetry's
    context, so that the team's own spans and the smart client's are its children. When nothing
    is exported only its ids go anywhere (log lines, `traceparent`), so it is only ids, current
    in a variable of the platform's: an unrecorded OpenTelemetry span, made current, cost a
    fifth of the platform's time per request for nothing anyone could see.
    """

    trace_id: str  # in hex, as log lines and `traceparent` show them
    span_id: str
    flags: TraceFlags
    recorded: Span | None = None
    otel_token: Token[Context] | None = None
    token: Token[ServerSpan | None] | None = None

    def end(self, method: str, route: str, status: int, error: Exception | None) -> None:
        if self.token is not None:
            _REQUEST_SPAN.reset(self.token)
        if self.otel_token is not None:
            context.detach(self.otel_token)
        span = self.recorded
        if span is None or not span.is_recording():
            return
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if error is not None or status >= 500:
            span.set_status(trace.StatusCode.ERROR)
            span.set_attribute("error.type", type(error).__name__ if error is not None else str(status))
        span.end()


# The request being served, when its span is only ids (nothing is exported).
_REQUEST_SPAN: ContextVar[ServerSpan | None] = ContextVar("svc_request_span", default=None)


def start_server_span(traceparent: str | None, method: str, path: str) -> ServerSpan | None:
    """The request's span, a child of the caller's when `traceparent` (valid) is given; None when off.

    It is current until it ends, so that the calls made while serving the request are its children.
    """
    if not Tracing.on:
        return None
    tracer = Tracing.tracer
    if tracer is None:
        # A new trace is sampled, so that the services called decide for themselves whether to record theirs.
        if traceparent is None:
            trace_id, flags = f"{random.getrandbits(128):032x}", _SAMPLED
        else:
            trace_id, flags = traceparent[3:35], TraceFlags(int(traceparent[53:55], 16))
        server = ServerSpan(trace_id, f"{_new_span_id():016x}", flags)
        server.token = _REQUEST_SPAN.set(server)
        return server
    parent = _remote_parent(traceparent)
    span = tracer.start_span(
        method,
        context=None if parent is None else trace.set_span_in_context(NonRecordingSpan(parent)),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "url.path": path},
    )
    span_context = span.get_span_context()
    return ServerSpan(
        f"{span_context.trace_id:032x}",
        f"{span_context.span_id:016x}",
        span_context.trace_flags,
        recorded=span,
        otel_token=context.attach(trace.set_span_in_context(span)),
    )


def _new_span_id() -> int:
    # Unique, not secret (as the SDK's own ids): the Mersenne Twister spares a system call.
    return random.getrandbits(64) or 1


def _remote_parent(traceparent: str | None) -> SpanContext | None:
    if traceparent is None:
        return None
    _, trace_id, span_id, flags = traceparent.split("-")
    return SpanContext(
        int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(int(flags, 16))
    )


def start_client_span(method: str, target: str) -> Span | None:
    """The span of one smart-client call (all its attempts), a child of the current span; None when off."""
    if not Tracing.on:
        return None
    tracer = Tracing.tracer
    if tracer is None:
        request = _REQUEST_SPAN.get()
        if request is None:
            trace_id, flags = random.getrandbits(128), _SAMPLED
        else:
            trace_id, flags = int(request.trace_id, 16), request.flags
        return NonRecordingSpan(SpanContext(trace_id, _new_span_id(), is_remote=False, trace_flags=flags))
    return tracer.start_span(
        method,
        kind=SpanKind.CLIENT,
        attributes={"http.request.method": method, "peer.service": target},
    )


def end_client_span(span: Span, url: str, status: int | str, attempts: int) -> None:
    if not span.is_recording():
        return
    # Without the query string, which may hold keys (the access log leaves it out too).
    span.set_attribute("url.full", url.split("?", 1)[0])
    span.set_attribute("http.request.resend_count", attempts - 1)
    if isinstance(status, int):
        span.set_attribute("http.response.status_code", status)
    if not isinstance(status, int) or status >= 500:
        span.set_status(trace.StatusCode.ERROR)
        span.set_attribute("error.type", str(status))
    span.end()


def traceparent(span: Span) -> str:
    """The `traceparent` header that makes `span` the parent of what the callee does."""
    span_context = span.get_span_context()
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{span_context.trace_flags:02x}"
