"""The checks of `svc radar`: the standard ones over HTTP, and a service's own API checks.

Standard checks run with one `httpx.AsyncClient`, instances concurrently, the four checks of
an instance one after another (once /livez cannot be reached, the rest are not tried). API
checks run `python -m pytest api_checks` in the service checkout, with the interpreter of its
`.venv` when it has one, pointed at the instance by `SVC_API_BASE_URL`; their results come
back through `--junitxml`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..errors import InputError
from .model import CheckResult, RadarRequest, Target

CHECKS_DIR = "api_checks"
_EXCERPT_CHARS = 600
_DETAIL_CHARS = 300
_OUTPUT_TAIL_LINES = 12


@dataclass(frozen=True)
class ServiceCheckout:
    """A service's source tree: its name and where its API checks and environment are."""

    path: Path
    service: str
    python: Path  # runs its API checks
    checks_dir: Path | None  # None: the service has no API checks


@dataclass(frozen=True)
class StandardCheck:
    name: str
    path: str
    validate: Callable[[httpx.Response], str]  # "" when the answer is right, else why not


def load_checkout(path: Path) -> ServiceCheckout:
    """Read a service checkout; `InputError` when `path` is not one."""
    root = path.expanduser().absolute()
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise InputError(f"{path} is not a service checkout: it has no pyproject.toml.")
    try:
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError, OSError) as error:
        raise InputError(f"{pyproject} does not name the service ([project] name): {error}.") from error
    venv_python = root / ".venv" / "bin" / "python"
    checks = root / CHECKS_DIR
    return ServiceCheckout(
        path=root,
        service=str(name),
        python=venv_python if venv_python.exists() else Path(sys.executable),
        checks_dir=checks if checks.is_dir() else None,
    )


# --- standard checks ----------------------------------------------------------------------


def _expect_ok(response: httpx.Response) -> str:
    return "" if response.status_code == 200 else f"HTTP {response.status_code}, expected 200"


def _expect_health_json(response: httpx.Response) -> str:
    if response.status_code != 200:
        return f"HTTP {response.status_code}, expected 200"
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith("application/health+json"):
        return f"content type {content_type or 'missing'}, expected application/health+json"
    try:
        status = response.json().get("status")
    except (ValueError, AttributeError):
        return "the body is not a JSON object"
    return "" if status in {"pass", "warn"} else f"health status {status!r}, expected pass or warn"


def _expect_prometheus_text(response: httpx.Response) -> str:
    if response.status_code != 200:
        return f"HTTP {response.status_code}, expected 200"
    return "" if "# TYPE " in response.text else "the body is not Prometheus text (no # TYPE line)"


STANDARD_CHECKS = (
    StandardCheck("livez", "/livez", _expect_ok),
    StandardCheck("readyz", "/readyz", _expect_ok),
    StandardCheck("health", "/health", _expect_health_json),
    StandardCheck("metrics", "/metrics", _expect_prometheus_text),
)


async def run_standard_checks(
    targets: Sequence[Target], *, timeout_s: float, latency_budget_ms: float, concurrency: int
) -> list[CheckResult]:
    """Every standard check against every target; never raises for a sick instance."""
    limit = asyncio.Semaphore(max(1, concurrency))
    # trust_env=False: instances sit on the local network, never behind the user's proxy.
    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:

        async def one(target: Target) -> list[CheckResult]:
            async with limit:
                return await _check_instance(client, target, latency_budget_ms)

        per_target = await asyncio.gather(*(one(t) for t in targets))
    return [result for results in per_target for result in results]


async def _check_instance(
    client: httpx.AsyncClient, target: Target, latency_budget_ms: float
) -> list[CheckResult]:
    results: list[CheckResult] = []
    for check in STANDARD_CHECKS:
        if results and results[0].status is None:
            results.append(
                _result(target, check.name, False, detail="not tried: the instance did not answer /livez")
            )
            continue
        results.append(await _run_standard(client, target, check, latency_budget_ms))
    return results


async def _run_standard(
    client: httpx.AsyncClient, target: Target, check: StandardCheck, latency_budget_ms: float
) -> CheckResult:
    url = target.url.rstrip("/") + check.path
    began = time.perf_counter()
    try:
        response = await client.get(url)
    except httpx.TimeoutException as error:
        timeout = client.timeout.read
        return _result(
            target, check.name, False, detail=f"no answer within {timeout:g} s ({type(error).__name__})"
        )
    except httpx.HTTPError as error:
        return _result(target, check.name, False, detail=f"unreachable: {type(error).__name__}: {error}")
    latency_ms = round((time.perf_counter() - began) * 1000, 2)
    detail = check.validate(response)
    if not detail and latency_ms > latency_budget_ms:
        detail = f"took {latency_ms:.0f} ms, over the {latency_budget_ms:g} ms budget"
    return _result(
        target,
        check.name,
        not detail,
        status=response.status_code,
        latency_ms=latency_ms,
        detail=detail,
        excerpt=_excerpt(response) if detail else "",
    )


def _result(
    target: Target,
    check: str,
    passed: bool,
    *,
    status: int | None = None,
    latency_ms: float | None = None,
    detail: str = "",
    excerpt: str = "",
    kind: str = "standard",
) -> CheckResult:
    return CheckResult(
        service=target.service,
        instance=target.instance,
        url=target.url,
        check=check,
        passed=passed,
        status=status,
        latency_ms=latency_ms,
        detail=detail,
        response_excerpt=excerpt,
        kind=kind,
    )


def _excerpt(response: httpx.Response) -> str:
    body = response.text
    if len(body) > _EXCERPT_CHARS:
        body = body[:_EXCERPT_CHARS] + " ..."
    content_type = response.headers.get("content-type", "-")
    return f"HTTP {response.status_code} GET {response.request.url}\ncontent-type: {content_type}\n\n{body}"


# --- a service's own API checks -----------------------------------------------------------


def run_api_checks(checkout: ServiceCheckout, target: Target, request: RadarRequest) -> list[CheckResult]:
    """Run the checkout's API checks against `target`: one result per check, never raises."""
    assert checkout.checks_dir is not None
    with tempfile.TemporaryDirectory(prefix="svc-radar-") as scratch:
        junit = Path(scratch) / "junit.xml"
        command = [
            str(checkout.python),
            *("-m", "pytest", str(checkout.checks_dir), "-q", "-p", "no:cacheprovider"),
            *(f"--junitxml={junit}", "-o", "junit_family=xunit1"),
        ]
        env = {
            **os.environ,
            "SVC_API_BASE_URL": target.url,
            "SVC_API_TIMEOUT_SECONDS": f"{request.timeout_s:g}",
            "SVC_API_LATENCY_BUDGET_MS": f"{request.latency_budget_ms:g}",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.pop("SVC_API_WAIT_SECONDS", None)  # the instance is live already: never wait for it
        env.pop("SVC_API_REALM", None)
        try:
            done = subprocess.run(
                command,
                cwd=checkout.path,
                env=env,
                capture_output=True,
                text=True,
                timeout=request.suite_timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            detail = f"the API checks did not finish within {request.suite_timeout_s:g} s and were stopped"
            return [_result(target, "api", False, detail=detail, kind="api")]
        except OSError as error:
            detail = f"cannot run {checkout.python}: {error.strerror or error}"
            return [_result(target, "api", False, detail=detail, kind="api")]
        results = _junit_results(junit, target) if junit.is_file() else []
    if results or done.returncode == 0:  # 0 and no results: every check was skipped
        return results
    return [_run_failure(done, target, checkout)]


def _run_failure(
    done: subprocess.CompletedProcess[str], target: Target, checkout: ServiceCheckout
) -> CheckResult:
    """pytest ran no check: name why, with the end of its output."""
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-_OUTPUT_TAIL_LINES:])
    if done.returncode == 5:
        detail = f"no API checks were collected from {checkout.checks_dir}"
    else:
        detail = f"the API checks could not run with {checkout.python} (pytest exit code {done.returncode})"
        if checkout.python == Path(sys.executable):
            detail += f"; give {checkout.path} a .venv with the service and its dev group installed"
    return _result(target, "api", False, detail=detail, excerpt=tail, kind="api")


def _junit_results(path: Path, target: Target) -> list[CheckResult]:
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - our own pytest run's report
    except ET.ParseError:
        return []
    return [_testcase_result(case, target) for case in root.iter("testcase") if case.find("skipped") is None]


def _testcase_result(case: ET.Element, target: Target) -> CheckResult:
    module = case.get("classname", "").removeprefix(f"{CHECKS_DIR}.")
    name = f"api:{module}::{case.get('name', '?')}" if module else f"api:{case.get('name', '?')}"
    problem = case.find("failure")
    if problem is None:
        problem = case.find("error")
    properties = {p.get("name"): p.get("value", "") for p in case.iter("property")}
    # Only the answer that failed the check, never pytest's traceback: the message says the rest.
    excerpt = properties.get("response", "")
    return _result(
        target,
        name,
        problem is None,
        latency_ms=round(float(case.get("time", "0") or 0) * 1000, 2),
        detail="" if problem is None else _one_line(problem.get("message", "") or problem.tag),
        excerpt=excerpt if problem is not None else "",
        kind="api",
    )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _DETAIL_CHARS else line[:_DETAIL_CHARS] + " ..."
