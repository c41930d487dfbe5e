# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""The smart client: an httpx client that calls other services by name.

    async with SmartClient(registry, realm="dev") as client:
        response = await client.get("service://identity/users/42")

``service://NAME/path`` goes to a live instance of NAME in the caller's realm; plain
``http(s)://`` URLs pass through unchanged. Both are retried under the platform's policy
(see ``retry.py`` and ``transport.py``), carry the current ``X-Request-ID``, are logged
and counted. ``SyncSmartClient`` is the same for code without an event loop.

The clients do not own the registry: close it yourself (the service shares one registry
between its registrar and its client).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from prometheus_client import REGISTRY, CollectorRegistry

from .balancer import Balancer
from .client_telemetry import ClientTelemetry
from .logs import current_request_id
from .resolver import Resolver, ServiceNotFound
from .retry import RetryPolicy
from .transport import CallRules, DeadlineExceeded, SmartTransport, SyncSmartTransport

if TYPE_CHECKING:
    from .registry import Registry

__all__ = [
    "DEFAULT_TIMEOUT",
    "DeadlineExceeded",
    "RetryPolicy",
    "ServiceNotFound",
    "SmartClient",
    "SyncSmartClient",
    "current_request_id",
]

# Per attempt: a connection either comes quickly or not at all; the overall deadline
# (RetryPolicy.deadline) bounds the whole call.
DEFAULT_TIMEOUT = httpx.Timeout(2.0, connect=0.5)
REQUEST_ID_HEADER = "X-Request-ID"

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Wiring:
    """What both clients build their transport from."""

    registry: Registry | None
    realm: str
    policy: RetryPolicy | None
    cache_ttl: float
    balancer: Balancer | None
    metrics_registry: CollectorRegistry | None

    def resolver(self) -> Resolver | None:
        return None if self.registry is None else Resolver(self.registry, self.realm, ttl=self.cache_ttl)

    def rules(self) -> CallRules:
        return CallRules(
            policy=self.policy,
            balancer=self.balancer,
            telemetry=ClientTelemetry(self.metrics_registry or REGISTRY),
        )


def _user_agent_headers(user_agent: str | None, headers: Any) -> httpx.Headers:
    merged = httpx.Headers(headers)
    if user_agent:
        merged.setdefault("User-Agent", user_agent)
    return merged


class SmartClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` with ``service://`` resolution and the platform's retries.

    ``registry`` and ``realm`` say where ``service://`` names are looked up (a client
    without a registry can still call plain URLs). ``request_id`` returns the ID to send
    as ``X-Request-ID``; by default, that of the request being served. ``trust_env`` is
    off so that an HTTP(S)_PROXY meant for the outside world does not carry calls between
    services; turn it on for a client of outside APIs. ``transport`` replaces the
    connection-level transport under the retries; ``balancer`` how instances are ordered
    and set aside. Metrics go to ``metrics_registry`` (the service's own, so that they
    show on its ``/metrics``; by default prometheus_client's global one). Any other
    keyword goes to ``httpx.AsyncClient``.
    """

    def __init__(
        self,
        registry: Registry | None,
        realm: str,
        *,
        policy: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        cache_ttl: float = 2.0,
        request_id: Callable[[], str | None] = current_request_id,
        user_agent: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        balancer: Balancer | None = None,
        metrics_registry: CollectorRegistry | None = None,
        trust_env: bool = False,
        headers: Any = None,
        **kwargs: Any,
    ) -> None:
        async def add_request_id(request: httpx.Request) -> None:
            _set_request_id(request, request_id)

        wiring = _Wiring(registry, realm, policy, cache_ttl, balancer, metrics_registry)
        super().__init__(
            transport=SmartTransport(wiring.resolver(), rules=wiring.rules(), inner=transport),
            timeout=timeout,
            trust_env=trust_env,
            headers=_user_agent_headers(user_agent, headers),
            event_hooks={"request": [add_request_id]},
            **kwargs,
        )


class SyncSmartClient(httpx.Client):
    """The smart client for synchronous code (scripts, CLIs, sync endpoints).

    Calls are sent from the calling thread, as with ``httpx.Client``; only the registry,
    which is asynchronous, is read on a private event loop in a background thread, when the
    cached instance list is stale. The client takes the registry over: its connections
    belong to that loop, so ``close()`` closes it too (give this client a registry of its
    own). Arguments are those of ``SmartClient``, but ``transport`` is a synchronous one.
    """

    def __init__(
        self,
        registry: Registry | None,
        realm: str,
        *,
        policy: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        cache_ttl: float = 2.0,
        request_id: Callable[[], str | None] = current_request_id,
        user_agent: str | None = None,
        transport: httpx.BaseTransport | None = None,
        balancer: Balancer | None = None,
        metrics_registry: CollectorRegistry | None = None,
        trust_env: bool = False,
        headers: Any = None,
        **kwargs: Any,
    ) -> None:
        wiring = _Wiring(registry, realm, policy, cache_ttl, balancer, metrics_registry)
        self._registry_loop = _RegistryLoop(registry) if registry is not None else None
        run = self._registry_loop.run if self._registry_loop is not None else None
        super().__init__(
            transport=SyncSmartTransport(wiring.resolver(), run, rules=wiring.rules(), inner=transport),
            timeout=timeout,
            trust_env=trust_env,
            headers=_user_agent_headers(user_agent, headers),
            event_hooks={"request": [lambda request: _set_request_id(request, request_id)]},
            **kwargs,
        )

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._registry_loop is not None:
                self._registry_loop.close()


def _set_request_id(request: httpx.Request, request_id: Callable[[], str | None]) -> None:
    if REQUEST_ID_HEADER not in request.headers:
        value = request_id()
        if value:
            request.headers[REQUEST_ID_HEADER] = value


class _RegistryLoop:
    """An event loop in a background thread, where the sync client's registry lives."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smart-client-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self.run(self._registry.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
