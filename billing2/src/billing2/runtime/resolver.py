# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Turns a service name into its live instances (registry key and base URL), in the caller's realm.

Lists are cached for a short ``ttl`` and fetched again when stale, one fetch per service
at a time. When the registry cannot be reached, the last known list is used (static
stability): an etcd outage must not take down calls between healthy services.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from .logs import get_logger
from .registry import RegistryUnavailable

if TYPE_CHECKING:
    from .registry import Registry

log = get_logger(__name__)


class ServiceNotFound(httpx.TransportError):
    """No live instance of the service in the caller's realm is known."""


@dataclass(frozen=True)
class Endpoint:
    """One live instance as the client sees it."""

    # The registry key: what failures are counted against, so that a new instance at the
    # address of a dead one starts with a clean record.
    key: str
    base: str  # the instance's URL without a trailing slash; a call's path is appended


@dataclass
class _Entry:
    endpoints: list[Endpoint]
    fetched_at: float


class Resolver:
    """Cached ``service name -> [Endpoint]`` lookups within one realm.

    There is deliberately no way to name another realm: cross-realm calls must use an
    explicit ``https://`` URL.
    """

    def __init__(
        self,
        registry: Registry,
        realm: str,
        *,
        ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._realm = realm
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def realm(self) -> str:
        return self._realm

    async def resolve(self, service: str) -> list[Endpoint]:
        """``service``'s live instances; raises ``ServiceNotFound`` if none."""
        entry = self._fresh(service)
        if entry is not None:
            return entry.endpoints
        lock = self._locks.setdefault(service, asyncio.Lock())
        async with lock:
            # Whoever held the lock before us may have just refreshed the list.
            entry = self._fresh(service)
            if entry is not None:
                return entry.endpoints
            return await self._refresh(service)

    def cached(self, service: str) -> list[Endpoint] | None:
        """The fresh cached instances of ``service``, or None when the registry must be asked."""
        entry = self._fresh(service)
        return None if entry is None else entry.endpoints

    def invalidate(self, service: str) -> None:
        """Forget the cached list, so that the next call asks the registry."""
        self._cache.pop(service, None)

    def _fresh(self, service: str) -> _Entry | None:
        entry = self._cache.get(service)
        if entry is not None and self._clock() - entry.fetched_at < self._ttl:
            return entry
        return None

    async def _refresh(self, service: str) -> list[Endpoint]:
        stale = self._cache.get(service)
        try:
            instances = await self._registry.lookup(self._realm, service)
        except RegistryUnavailable as exc:
            if stale is None:
                raise ServiceNotFound(
                    f"cannot resolve service://{service}: the registry is unreachable ({exc})"
                ) from exc
            log.warning("registry_unreachable_using_cached_instances", target=service)
            stale.fetched_at = self._clock()  # ask again after ttl, not on every call
            return stale.endpoints
        by_key = {instance.key: Endpoint(instance.key, instance.url.rstrip("/")) for instance in instances}
        endpoints = [by_key[key] for key in sorted(by_key)]
        if not endpoints:
            self._cache.pop(service, None)
            raise ServiceNotFound(f"no live instance of {service!r} in realm {self._realm!r}")
        self._cache[service] = _Entry(endpoints, self._clock())
        return endpoints
