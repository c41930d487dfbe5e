# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""The httpx transport under the smart client: resolution, failover and retries.

httpx is built around the transport seam: a client hands each request to
``handle_async_request`` and gets a response back. Here one call becomes up to
``max_attempts`` attempts, each on another instance of the target service, with full-jitter
backoff between them, under an overall deadline and a per-target retry budget.
``service://NAME/path`` is resolved through the registry; any other URL is sent as it is
(and retried under the same rules).

A call is never retried once its response has been handed back: the body streams to the
caller, so nothing after the status line can be replayed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from .balancer import Balancer
from .client_telemetry import ClientTelemetry
from .resolver import Resolver, ServiceNotFound
from .retry import (
    GATEWAY_STATUSES,
    RetryBudget,
    RetryPolicy,
    is_replay_safe,
    reason_for_error,
    reason_for_status,
    retry_after,
)

SERVICE_SCHEME = "service"
_TIMEOUT_KEYS = ("connect", "read", "write", "pool")
# Failures that show nothing is listening at the instance.
_DEFINITE = (httpx.ConnectError, httpx.ConnectTimeout)

Outcome = httpx.Response | httpx.TransportError


class DeadlineExceeded(httpx.TimeoutException):
    """The call's overall deadline passed before a response arrived."""


@dataclass
class _Call:
    """What one call has done so far, across its attempts."""

    request: httpx.Request
    target: str
    started: float
    deadline: float
    attempts: int = 0
    url: httpx.URL = field(init=False)

    def __post_init__(self) -> None:
        self.url = self.request.url


class SmartTransport(httpx.AsyncBaseTransport):
    """Resolves ``service://`` URLs and retries failed attempts on other instances.

    ``resolver`` may be None for a client that only calls plain URLs. A request may
    carry ``extensions={"deadline": seconds}`` to shorten or lengthen its deadline.
    """

    def __init__(
        self,
        resolver: Resolver | None,
        *,
        policy: RetryPolicy | None = None,
        inner: httpx.AsyncBaseTransport | None = None,
        balancer: Balancer | None = None,
        telemetry: ClientTelemetry | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._resolver = resolver
        self._policy = policy or RetryPolicy()
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._balancer = balancer or Balancer()
        self._telemetry = telemetry or ClientTelemetry()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._budgets: dict[str, RetryBudget] = {}

    @property
    def balancer(self) -> Balancer:
        return self._balancer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = self._clock()
        deadline = float(request.extensions.get("deadline", self._policy.deadline))
        call = _Call(request, request.url.host, started, started + deadline)
        status: int | str = "error"
        try:
            response = await self._run(call)
            status = response.status_code
            return response
        except Exception as exc:
            status = type(exc).__name__
            raise
        finally:
            self._telemetry.call(
                target=call.target,
                method=request.method,
                url=str(call.url),
                status=status,
                attempts=call.attempts,
                seconds=self._clock() - started,
            )

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def _run(self, call: _Call) -> httpx.Response:
        budget = self._budgets.setdefault(call.target, RetryBudget.for_policy(self._policy))
        budget.record_request()
        await call.request.aread()  # the body is sent again on a retry, so keep it
        candidates = await self._candidates(call.request)
        replay_safe = is_replay_safe(call.request)
        while True:
            key, base = candidates[call.attempts % len(candidates)]
            call.attempts += 1
            outcome = await self._attempt(call, key, base)
            if isinstance(outcome, httpx.Response):
                reason = reason_for_status(outcome.status_code, replay_safe)
            else:
                reason = reason_for_error(outcome, replay_safe)
            wait = self._wait_before_retry(call, outcome, reason, budget)
            if wait is None:
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome
            if isinstance(outcome, httpx.Response):
                await outcome.aclose()
            self._telemetry.retry(
                target=call.target,
                url=str(call.url),
                reason=reason or "",
                attempt=call.attempts,
                wait=wait,
            )
            await self._sleep(wait)

    async def _candidates(self, request: httpx.Request) -> list[tuple[str, httpx.URL | None]]:
        """(balancer key, base URL to send to, or None for the URL as it is), in order."""
        url = request.url
        if url.scheme != SERVICE_SCHEME:
            return [(f"{url.scheme}://{url.netloc.decode('ascii')}", None)]
        if self._resolver is None:
            raise ServiceNotFound(f"cannot resolve {url}: this client has no registry")
        endpoints = {endpoint.key: endpoint.url for endpoint in await self._resolver.resolve(url.host)}
        return [(key, endpoints[key]) for key in self._balancer.order(list(endpoints))]

    async def _attempt(self, call: _Call, key: str, base: httpx.URL | None) -> Outcome:
        remaining = call.deadline - self._clock()
        if remaining <= 0:
            raise DeadlineExceeded(f"deadline passed before attempt {call.attempts}")
        outgoing = _retarget(call.request, base, remaining)
        call.url = outgoing.url
        self._balancer.started(key)
        try:
            # The per-phase timeouts are clamped too; this bounds their sum.
            async with asyncio.timeout(remaining):
                response = await self._inner.handle_async_request(outgoing)
        except TimeoutError as exc:
            self._balancer.failed(key)
            raise DeadlineExceeded(f"deadline passed during attempt {call.attempts}") from exc
        except httpx.TransportError as exc:
            self._balancer.failed(key, definite=isinstance(exc, _DEFINITE))
            return exc
        finally:
            self._balancer.finished(key)
        if response.status_code in GATEWAY_STATUSES:
            self._balancer.failed(key)
        else:
            self._balancer.succeeded(key)
        return response

    def _wait_before_retry(
        self, call: _Call, outcome: Outcome, reason: str | None, budget: RetryBudget
    ) -> float | None:
        """Seconds to wait before the next attempt, or None when there is none."""
        if reason is None or call.attempts >= self._policy.max_attempts:
            return None
        wait = self._policy.backoff(call.attempts, self._rng)
        if isinstance(outcome, httpx.Response):
            wait = max(wait, retry_after(outcome))
        if self._clock() + wait >= call.deadline:
            return None  # the answer we have is better than a timeout
        if not budget.try_spend():
            self._telemetry.out_of_budget(target=call.target)
            return None
        return wait


def _retarget(request: httpx.Request, base: httpx.URL | None, remaining: float) -> httpx.Request:
    """A fresh copy of ``request`` for one attempt, sent to ``base`` when given."""
    url = request.url
    if base is not None:
        url = base.copy_with(raw_path=base.raw_path.rstrip(b"/") + url.raw_path)
    # Host is derived from the new URL by httpx.Request.
    headers = [(name, value) for name, value in request.headers.raw if name.lower() != b"host"]
    extensions = dict(request.extensions)
    timeout = extensions.get("timeout") or {}
    extensions["timeout"] = {
        key: remaining if timeout.get(key) is None else min(timeout[key], remaining) for key in _TIMEOUT_KEYS
    }
    return httpx.Request(request.method, url, headers=headers, content=request.content, extensions=extensions)
