# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Per-request telemetry in one pass: request id, server span, access log line and RED metrics.

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware, which costs far more per request.
An exception that escapes the app is logged here, on the request's own line (with its id, route
and trace id), rather than by uvicorn after the request's context is gone, and answered here with
a 500 that carries the request id.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Collection

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import LOGGED_MARK, REQUEST_ID, SPAN_ID, TRACE_ID, get_logger, write_line
from .metrics import HttpMetrics, normalise_method
from .tracing import start_server_span

UNMATCHED = "<unmatched>"
# What Starlette answers for an unhandled exception outside debug mode.
_INTERNAL_ERROR = PlainTextResponse("Internal Server Error", status_code=500)
# Ids from load balancers and other services are kept if they are short and printable.
_VALID_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
# W3C Trace Context: version-traceid-parentid-flags; an all-zero trace id is invalid.
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")

log = get_logger(__name__)


class RequestTelemetry:
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics, quiet_routes: Collection[str] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.quiet_routes = frozenset(quiet_routes)
        self.labels = RouteLabels()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, traceparent = _ids(scope["headers"])
        method = normalise_method(scope["method"])
        # Probes and scrapes, every few seconds, would bury the traces worth reading.
        quiet = scope["path"] in self.quiet_routes
        span = None if quiet else start_server_span(traceparent, method, scope["path"])
        status = 500  # what the client gets if the app raises before answering
        started = False
        id_header = (b"x-request-id", request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        if span is not None:
            trace_token, span_token = TRACE_ID.set(span.trace_id), SPAN_ID.set(span.span_id)
        else:  # tracing off: the lines still carry the caller's trace id
            trace_token, span_token = TRACE_ID.set(traceparent and traceparent[3:35]), SPAN_ID.set(None)
        id_token = REQUEST_ID.set(request_id)
        requests = self.metrics.requests
        requests.started(method)
        start = time.perf_counter()
        error: Exception | None = None
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as raised:
            error = raised
            if started or getattr(scope.get("app"), "debug", False):
                raise  # a half-sent answer cannot become a 500; debug mode shows its traceback page
            # Starlette's error middleware would answer from outside this one, without the
            # request id that the failure's log line names. The failure is logged below.
            await _INTERNAL_ERROR(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            route = self.labels.of(scope)
            requests.finished(method, route, status, seconds)
            if error is not None or status >= 500 or route not in self.quiet_routes:
                _log_request(method, route, scope["path"], status, seconds, error)
            if span is not None:
                span.end(method, route, status, error)
            REQUEST_ID.reset(id_token)
            TRACE_ID.reset(trace_token)
            SPAN_ID.reset(span_token)


class RouteLabels:
    """The route template a request matched (`/v1/greetings/{name}`), or `<unmatched>`.

    FastAPI puts its own routes in the scope; Starlette routes (`/docs`, `/openapi.json`) leave
    only their endpoint there, which is looked up among the app's routes once.
    """

    def __init__(self) -> None:
        self._by_endpoint: dict[Callable[..., object], str] = {}

    def of(self, scope: Scope) -> str:
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        label = self._by_endpoint.get(endpoint)
        if label is None:
            self._learn(scope)
            # An endpoint of no route of the app's own (a mounted app's) is not looked for again.
            label = self._by_endpoint.setdefault(endpoint, UNMATCHED)
        return label

    def _learn(self, scope: Scope) -> None:
        app = scope.get("app")
        for route in getattr(app, "routes", ()):
            endpoint, path = getattr(route, "endpoint", None), getattr(route, "path", None)
            if endpoint is not None and isinstance(path, str):
                self._by_endpoint.setdefault(endpoint, path)


def _ids(headers: list[tuple[bytes, bytes]]) -> tuple[str, str | None]:
    """The request id (the caller's, or a new one) and the caller's W3C `traceparent`, if valid."""
    request_id = traceparent = None
    for name, value in headers:
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(text):
                request_id = text
        elif name == b"traceparent":
            text = bytes(value).decode("latin-1").strip()
            if _TRACEPARENT.fullmatch(text):
                traceparent = text
    # Unique, not secret: the Mersenne Twister (reseeded in forked children) spares a system call.
    return request_id or f"{random.getrandbits(128):032x}", traceparent


def _log_request(
    method: str, route: str, path: str, status: int, seconds: float, error: Exception | None
) -> None:
    fields = {
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
    }
    if error is None:
        write_line(__name__, "error" if status >= 500 else "info", "request_finished", fields)
        return
    log.error("request_failed", exc_info=error, **fields)
    # uvicorn would log it again, outside the request's context.
    setattr(error, LOGGED_MARK, True)
