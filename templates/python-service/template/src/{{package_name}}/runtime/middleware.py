# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Per-request telemetry in one pass: request id, access log line and RED metrics.

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware, which costs far more per request.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import REQUEST_ID, get_logger
from .metrics import HttpMetrics, normalise_method

UNMATCHED = "<unmatched>"
# Ids from load balancers and other services are kept if they are short and printable.
_VALID_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")

log = get_logger(__name__)


class RequestTelemetry:
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics, quiet_routes: Collection[str] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.quiet_routes = frozenset(quiet_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        method = normalise_method(scope["method"])
        status = 500  # what the client gets if the app raises before answering
        id_header = (b"x-request-id", request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        token = REQUEST_ID.set(request_id)
        in_progress = self.metrics.in_progress_of(method)
        in_progress.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            in_progress.dec()
            route = _route_template(scope)
            self.metrics.observe(method, route, status, seconds)
            if route not in self.quiet_routes or status >= 500:
                _log_request(method, route, scope["path"], status, seconds)
            REQUEST_ID.reset(token)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _VALID_REQUEST_ID.fullmatch(text):
                return text
            break
    return secrets.token_hex(16)


def _route_template(scope: Scope) -> str:
    # Routing stores the matched route in the scope; its path is the template (/items/{item_id}).
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _log_request(method: str, route: str, path: str, status: int, seconds: float) -> None:
    emit = log.error if status >= 500 else log.info
    emit(
        "request",
        method=method,
        route=route,
        path=path,
        status=status,
        duration_ms=round(seconds * 1000, 3),
    )
