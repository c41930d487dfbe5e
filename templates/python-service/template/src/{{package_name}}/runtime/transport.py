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
import functools
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from opentelemetry.trace import Span

from .balancer import Balancer
from .client_telemetry import ClientTelemetry
from .resolver import Endpoint, Resolver, ServiceNotFound
from .retry import (
    GATEWAY_STATUSES,
    RetryBudget,
    RetryPolicy,
    is_replay_safe,
    reason_for_error,
    reason_for_status,
    retry_after,
)
from .tracing import end_client_span, start_client_span, traceparent
from .traffic import Exchange, TrafficLog

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
    budget: RetryBudget
    replay_safe: bool
    attempts: int = 0
    # (balancer key, base URL to send to, or None for the URL as it is), in order of preference.
    candidates: list[tuple[str, str | None]] = field(default_factory=list)
    url: httpx.URL = field(init=False)
    span: Span | None = None  # None: tracing is off
    exchange: Exchange | None = None  # None: no traffic log

    def __post_init__(self) -> None:
        self.url = self.request.url


class CallRules:
    """What the async and the sync transports share: where attempts go, when to retry, what is recorded.

    The transports only do the I/O: send an attempt, sleep before the next one.
    """

    def __init__(
        self,
        *,
        policy: RetryPolicy | None = None,
        balancer: Balancer | None = None,
        telemetry: ClientTelemetry | None = None,
        traffic: TrafficLog | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.balancer = balancer or Balancer()
        self.telemetry = telemetry or ClientTelemetry()
        self.traffic = traffic
        self.clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._budgets: dict[str, RetryBudget] = {}

    def begin(self, request: httpx.Request) -> _Call:
        started = self.clock()
        target = request.url.host
        budget = self._budgets.get(target)
        if budget is None:
            budget = self._budgets[target] = RetryBudget.for_policy(self.policy)
        budget.record_request()
        deadline = float(request.extensions.get("deadline", self.policy.deadline))
        call = _Call(request, target, started, started + deadline, budget, is_replay_safe(request))
        trace_id = None
        span = call.span = start_client_span(request.method, target)
        if span is not None:
            # Every attempt carries it (they are copies of this request): the callee continues the trace.
            request.headers["traceparent"] = header = traceparent(span)
            trace_id = header[3:35]
        if self.traffic is not None:
            call.exchange = Exchange(request, time.time(), started, trace_id)
        return call

    def plan(self, call: _Call, endpoints: list[Endpoint] | None) -> None:
        """Order the instances to try; `endpoints` is None for a plain URL, sent as it is."""
        if endpoints is None:
            url = call.request.url
            call.candidates = [(f"{url.scheme}://{url.netloc.decode('ascii')}", None)]
        elif len(endpoints) == 1:
            call.candidates = [(endpoints[0].key, endpoints[0].base)]
        else:
            urls = {endpoint.key: endpoint.base for endpoint in endpoints}
            call.candidates = [(key, urls[key]) for key in self.balancer.order(list(urls))]

    def next_attempt(self, call: _Call) -> tuple[str, httpx.Request, float]:
        """(balancer key, the request to send, seconds left); raises `DeadlineExceeded` when none are."""
        key, base = call.candidates[call.attempts % len(call.candidates)]
        call.attempts += 1
        remaining = call.deadline - self.clock()
        if remaining <= 0:
            raise DeadlineExceeded(f"deadline passed before attempt {call.attempts}")
        outgoing = _retarget(call.request, base, remaining)
        call.url = outgoing.url
        self.balancer.started(key)
        return key, outgoing, remaining

    def answered(self, call: _Call, key: str, outcome: Outcome) -> None:
        if call.exchange is not None:
            call.exchange.attempted(key, call.url, outcome)
        self.balancer.finished(key)
        if isinstance(outcome, httpx.Response):
            if outcome.status_code in GATEWAY_STATUSES:
                self.balancer.failed(key)
            else:
                self.balancer.succeeded(key)
        else:
            self.balancer.failed(key, definite=isinstance(outcome, _DEFINITE))

    def timed_out(self, call: _Call, key: str) -> DeadlineExceeded:
        self.balancer.finished(key)
        self.balancer.failed(key)
        error = DeadlineExceeded(f"deadline passed during attempt {call.attempts}")
        if call.exchange is not None:
            call.exchange.attempted(key, call.url, error)
        return error

    def wait_before_retry(self, call: _Call, outcome: Outcome) -> float | None:
        """Seconds to wait before the next attempt, or None when there is none."""
        if isinstance(outcome, httpx.Response):
            reason = reason_for_status(outcome.status_code, call.replay_safe)
        else:
            reason = reason_for_error(outcome, call.replay_safe)
        if reason is None or call.attempts >= self.policy.max_attempts:
            return None
        wait = self.policy.backoff(call.attempts, self._rng)
        if isinstance(outcome, httpx.Response):
            wait = max(wait, retry_after(outcome))
        if self.clock() + wait >= call.deadline:
            return None  # the answer we have is better than a timeout
        if not call.budget.try_spend():
            self.telemetry.out_of_budget(target=call.target)
            return None
        self.telemetry.retry(
            target=call.target, url=str(call.url), reason=reason, attempt=call.attempts, wait=wait
        )
        return wait

    def finish(self, call: _Call, outcome: httpx.Response | Exception) -> None:
        """Record the call, answered with a response (whose body is still to be read) or failed."""
        status = outcome.status_code if isinstance(outcome, httpx.Response) else type(outcome).__name__
        self.telemetry.call(
            target=call.target,
            method=call.request.method,
            url=str(call.url),
            status=status,
            attempts=call.attempts,
            seconds=self.clock() - call.started,
        )
        if call.span is not None:
            end_client_span(call.span, str(call.url), status, call.attempts)
        if call.exchange is not None and self.traffic is not None:
            if isinstance(outcome, httpx.Response):
                self.traffic.answered(call.exchange, outcome, self.clock)
            else:
                self.traffic.failed(call.exchange, outcome, self.clock())


class SmartTransport(httpx.AsyncBaseTransport):
    """Resolves ``service://`` URLs and retries failed attempts on other instances.

    ``resolver`` may be None for a client that only calls plain URLs. A request may
    carry ``extensions={"deadline": seconds}`` to shorten or lengthen its deadline.
    """

    def __init__(
        self,
        resolver: Resolver | None,
        *,
        rules: CallRules | None = None,
        inner: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._resolver = resolver
        self._rules = rules or CallRules()
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._sleep = sleep

    @property
    def balancer(self) -> Balancer:
        return self._rules.balancer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call = self._rules.begin(request)
        try:
            response = await self._run(call)
        except Exception as exc:
            self._rules.finish(call, exc)
            raise
        self._rules.finish(call, response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def _run(self, call: _Call) -> httpx.Response:
        await call.request.aread()  # the body is sent again on a retry, so keep it
        self._rules.plan(call, await self._endpoints(call.request.url))
        while True:
            key, outgoing, remaining = self._rules.next_attempt(call)
            outcome: Outcome
            try:
                # The per-phase timeouts are clamped too; this bounds their sum.
                async with asyncio.timeout(remaining):
                    outcome = await self._inner.handle_async_request(outgoing)
            except TimeoutError as exc:
                raise self._rules.timed_out(call, key) from exc
            except httpx.TransportError as exc:
                outcome = exc
            self._rules.answered(call, key, outcome)
            wait = self._rules.wait_before_retry(call, outcome)
            if wait is None:
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome
            if isinstance(outcome, httpx.Response):
                await outcome.aclose()
            await self._sleep(wait)

    async def _endpoints(self, url: httpx.URL) -> list[Endpoint] | None:
        if url.scheme != SERVICE_SCHEME:
            return None
        if self._resolver is None:
            raise ServiceNotFound(f"cannot resolve {url}: this client has no registry")
        return await self._resolver.resolve(url.host)


class SyncSmartTransport(httpx.BaseTransport):
    """`SmartTransport` for synchronous code: the same rules, with the attempts sent from the caller's thread.

    Only resolving a name asks the (asynchronous) registry, on the event loop it belongs to
    (`run_on_registry_loop`), and only when the resolver's cache holds no fresh list: a call
    costs little more than a plain httpx call.
    """

    def __init__(
        self,
        resolver: Resolver | None,
        run_on_registry_loop: Callable[[Coroutine[Any, Any, list[Endpoint]]], list[Endpoint]] | None,
        *,
        rules: CallRules | None = None,
        inner: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._resolver = resolver
        self._run_on_registry_loop = run_on_registry_loop
        self._rules = rules or CallRules()
        self._inner = inner or httpx.HTTPTransport()
        self._sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call = self._rules.begin(request)
        try:
            response = self._run(call)
        except Exception as exc:
            self._rules.finish(call, exc)
            raise
        self._rules.finish(call, response)
        return response

    def close(self) -> None:
        self._inner.close()

    def _run(self, call: _Call) -> httpx.Response:
        call.request.read()  # the body is sent again on a retry, so keep it
        self._rules.plan(call, self._endpoints(call.request.url))
        while True:
            # No overall timeout around a blocking send: the clamped per-phase timeouts bound it.
            key, outgoing, _ = self._rules.next_attempt(call)
            outcome: Outcome
            try:
                outcome = self._inner.handle_request(outgoing)
            except httpx.TransportError as exc:
                outcome = exc
            self._rules.answered(call, key, outcome)
            wait = self._rules.wait_before_retry(call, outcome)
            if wait is None:
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome
            if isinstance(outcome, httpx.Response):
                outcome.close()
            self._sleep(wait)

    def _endpoints(self, url: httpx.URL) -> list[Endpoint] | None:
        if url.scheme != SERVICE_SCHEME:
            return None
        if self._resolver is None or self._run_on_registry_loop is None:
            raise ServiceNotFound(f"cannot resolve {url}: this client has no registry")
        cached = self._resolver.cached(url.host)
        if cached is not None:
            return cached
        return self._run_on_registry_loop(self._resolver.resolve(url.host))


@functools.lru_cache(maxsize=1024)
def _join(base: str, raw_path: bytes) -> httpx.URL:
    # Parsing a URL costs more than the rest of an attempt's bookkeeping, and calls repeat
    # their paths; a joined string parses in half the time URL.copy_with takes.
    return httpx.URL(base + raw_path.decode("ascii"))


def _retarget(request: httpx.Request, base: str | None, remaining: float) -> httpx.Request:
    """A fresh copy of ``request`` for one attempt, sent to ``base`` when given."""
    url = request.url
    if base is not None:
        url = _join(base, url.raw_path)
    headers = [(b"Host", url.netloc), *((k, v) for k, v in request.headers.raw if k.lower() != b"host")]
    extensions = dict(request.extensions)
    timeout = extensions.get("timeout") or {}
    extensions["timeout"] = {
        key: remaining if timeout.get(key) is None else min(timeout[key], remaining) for key in _TIMEOUT_KEYS
    }
    # The stream, read already, is sent as it is (with its Content-Length): encoding the body
    # again would cost more. So httpx.Request sets no header itself: Host is set above.
    return httpx.Request(request.method, url, headers=headers, stream=request.stream, extensions=extensions)
