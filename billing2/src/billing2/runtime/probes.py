# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Health endpoints in application/health+json: /livez, /readyz and the detailed /health report,
and the middleware that answers the platform's endpoints before routing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .health import CheckResult, Status, overall_status

if TYPE_CHECKING:
    from .platform import Platform

HEALTH_JSON = "application/health+json"
_NO_STORE = {"Cache-Control": "no-store"}


def health_response(body: dict[str, object], status: Status) -> JSONResponse:
    # The health-check format maps fail to an error code and pass or warn to success.
    code = 503 if status == "fail" else 200
    return JSONResponse(body, status_code=code, media_type=HEALTH_JSON, headers=_NO_STORE)


async def livez(request: Request) -> JSONResponse:
    """The process answers. Checks nothing else, so a sick dependency never gets it restarted."""
    return health_response({"status": "pass"}, "pass")


async def readyz(request: Request) -> JSONResponse:
    """Whether to send traffic here: fails from shutdown on, or while a critical check fails."""
    platform = _platform(request)
    if platform.draining:
        return health_response({"status": "fail", "output": "shutting down"}, "fail")
    results = await platform.health.results()
    status = overall_status(results)
    body: dict[str, object] = {"status": status}
    problems = [f"{result.name}: {result.output}" for result in results if result.status != "pass"]
    if problems:
        body["output"] = "; ".join(problems)
    return health_response(body, status)


async def health(request: Request) -> JSONResponse:
    """The full report: version, service id and every check with its observed value and time."""
    platform = _platform(request)
    results = await platform.health.results()
    status: Status = "fail" if platform.draining else overall_status(results)
    instance = platform.instance
    body: dict[str, object] = {
        "status": status,
        "version": instance.version,
        "serviceId": instance.service,
        "description": f"{instance.service} in realm {instance.realm}, instance {instance.instance}",
        "checks": _checks_object(results),
    }
    if platform.draining:
        body["output"] = "shutting down"
    return health_response(body, status)


def _checks_object(results: list[CheckResult]) -> dict[str, list[dict[str, object]]]:
    return {f"{result.name}:{result.measurement}": [result.to_json()] for result in results}


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


class PlatformEndpoints:
    """Answers the platform's endpoints (GET and HEAD) by exact path, before the app's routing.

    Routing tries routes in order, so endpoints in the router would cost every request of the
    team's routes a match each, and a team's catch-all route could shadow them. `scope["route"]`
    is set as routing would, so that metrics and logs label them by their path.
    """

    def __init__(self, app: ASGIApp, *, routes: Sequence[Route]) -> None:
        self.app = app
        self.routes = {route.path: route for route in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(_route_path(scope)) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        await route.handle(scope, receive, send)


def _route_path(scope: Scope) -> str:
    # Behind a proxy prefix (uvicorn --root-path) the path starts with it, as Starlette's routing knows.
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path
