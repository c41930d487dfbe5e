# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Health endpoints in application/health+json: /livez, /readyz and the detailed /health report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse

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
