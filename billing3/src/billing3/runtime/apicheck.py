# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Support for the service's API checks (`api_checks/`): where they send requests, and their limits.

The checks are ordinary pytest tests that call the `api` fixture, an `httpx.Client`:
- with `SVC_API_BASE_URL` set (CI, `svc radar run`), it talks to that running instance;
- else with `SVC_API_REALM` set, to a live instance of this service registered in that realm
  (of the registry `SVC_REGISTRY_URL` names, default the local one);
- else to the app in this process (its lifespan included): no server, no port.

Each check has a time limit (`SVC_API_TIMEOUT_SECONDS`, default 10): every request and the whole
check. When a check fails, the last response it got is attached to the report (and to
`--junitxml` as the property `response`), so a failure says what the service answered.
Only tests import this module; the service itself never does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from types import FrameType

import anyio
import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

from .platform import get_platform
from .registry import Instance, RegistryUnavailable, default_registry_url, open_registry

BASE_URL_VARIABLE = "SVC_API_BASE_URL"
REALM_VARIABLE = "SVC_API_REALM"
TIMEOUT_VARIABLE = "SVC_API_TIMEOUT_SECONDS"
WAIT_VARIABLE = "SVC_API_WAIT_SECONDS"
LATENCY_VARIABLE = "SVC_API_LATENCY_BUDGET_MS"
_EXCERPT_CHARS = 2000
_LAST_RESPONSE = pytest.StashKey[httpx.Response]()

__all__ = ["api", "latency_budget_ms", "pytest_runtest_makereport"]


def _seconds(variable: str, default: float) -> float:
    try:
        return float(os.environ.get(variable, "") or default)
    except ValueError:
        return default


@pytest.fixture
def latency_budget_ms() -> float:
    """How long one request may take before an endpoint check fails (`SVC_API_LATENCY_BUDGET_MS`)."""
    return _seconds(LATENCY_VARIABLE, 1000.0)


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """An `httpx.Client` on the instance at `SVC_API_BASE_URL`, else on `api_app` in-process.

    The service's `api_checks/conftest.py` defines the fixture `api_app` (the app to check
    in-process); it is built only when no base URL is given.
    """
    timeout = _seconds(TIMEOUT_VARIABLE, 10.0)

    def remember(response: httpx.Response) -> None:
        request.node.stash[_LAST_RESPONSE] = response

    base_url = _live_base_url(request)
    if base_url:
        _wait_until_live(base_url, _seconds(WAIT_VARIABLE, 0.0))  # before the check's clock starts
    with _time_limit(timeout):
        if base_url:
            client = httpx.Client(base_url=base_url, timeout=timeout, trust_env=False)
            with client:
                client.event_hooks["response"] = [remember]
                yield client
        else:
            app: FastAPI = request.getfixturevalue("api_app")
            with in_process_client(app, timeout) as client:
                client.event_hooks["response"] = [remember]
                yield client


@contextmanager
def in_process_client(app: FastAPI, timeout: float = 10.0) -> Iterator[httpx.Client]:
    """A real `httpx.Client` whose requests go to `app` in this process, its lifespan running."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
        httpx.Client(
            base_url="http://in-process", transport=_InProcessTransport(app, portal, timeout)
        ) as client,
    ):
        yield client


class _InProcessTransport(httpx.BaseTransport):
    """Runs each request through httpx's ASGI transport on the portal's event loop."""

    def __init__(self, app: FastAPI, portal: BlockingPortal, timeout: float) -> None:
        # raise_app_exceptions=False: an error in the app is a 500, as a real server would answer.
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._portal = portal
        self._timeout = timeout

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        return self._portal.call(self._send, request, body)

    async def _send(self, request: httpx.Request, body: bytes) -> httpx.Response:
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        try:
            with anyio.fail_after(self._timeout):
                response = await self._asgi.handle_async_request(forwarded)
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
        except TimeoutError as error:
            raise httpx.ReadTimeout(f"no answer within {self._timeout} s", request=request) from error
        # A stream, not content: httpx sets `elapsed` only when it reads and closes the stream itself.
        return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(raw))


def _live_base_url(request: pytest.FixtureRequest) -> str:
    """`SVC_API_BASE_URL`; else an instance of this service in `SVC_API_REALM`; else "" (in-process)."""
    base_url = os.environ.get(BASE_URL_VARIABLE, "")
    realm = os.environ.get(REALM_VARIABLE, "")
    if base_url or not realm:
        return base_url.rstrip("/")
    app: FastAPI = request.getfixturevalue("api_app")  # only for the service's name
    service = get_platform(app).instance.service
    url = os.environ.get("SVC_REGISTRY_URL") or default_registry_url()
    try:
        instances = asyncio.run(_lookup(url, realm, service))
    except (RegistryUnavailable, ValueError) as error:
        pytest.fail(f"cannot read the registry {url}: {error}", pytrace=False)
    if not instances:
        pytest.fail(f"no live instance of {service} is registered in realm {realm!r} of {url}", pytrace=False)
    return instances[0].url.rstrip("/")


async def _lookup(url: str, realm: str, service: str) -> list[Instance]:
    registry = open_registry(url)
    try:
        return await registry.lookup(realm, service)
    finally:
        await registry.aclose()


def _wait_until_live(base_url: str, wait_s: float) -> None:
    """In CI the service starts beside the checks: give it `SVC_API_WAIT_SECONDS` to answer /livez."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/livez", timeout=1.0, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Fail the check with TimeoutError when it runs longer than `seconds`.

    A SIGALRM timer, as pytest-timeout's signal method: it interrupts a check blocked anywhere in
    Python. Signals reach only the main thread; elsewhere the per-request timeouts still hold.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"the check did not finish within {seconds:g} s ({TIMEOUT_VARIABLE})")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed check, attach the last response it got: status line, headers and body."""
    report = yield
    response = item.stash.get(_LAST_RESPONSE, None)
    if report.failed and response is not None:
        excerpt = describe(response)
        report.sections.append(("last response", excerpt))
        item.user_properties.append(("response", excerpt))
    return report


def describe(response: httpx.Response) -> str:
    """`HTTP 503 GET /readyz`, the content type and the start of the body."""
    try:
        body = response.text
    except httpx.ResponseNotRead:
        body = "(body not read)"
    if len(body) > _EXCERPT_CHARS:
        body = body[:_EXCERPT_CHARS] + " ..."
    content_type = response.headers.get("content-type", "-")
    return (
        f"HTTP {response.status_code} {response.request.method} {response.request.url}\n"
        f"content-type: {content_type}\n\n{body}"
    )
