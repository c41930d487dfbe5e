# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Keeps this instance registered while it is ready: register, renew at ttl/3, retry with backoff.

Readiness is asked before every registration and renewal: an instance whose readiness
fails is deregistered (callers stop picking it within their cache's lifetime) and
registered again once it passes. The entry itself never changes shape.

`stop()` cancels the heartbeats before it deregisters: the other order lets a last heartbeat
find the entry gone and register the dying instance again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable

from .logs import get_logger
from .registry import Instance, RegistrationLost, Registry, RegistryUnavailable

log = get_logger(__name__)

Readiness = Callable[[], Awaitable[str | None]]  # why the instance is not ready, or None when it is


async def _always_ready() -> str | None:
    return None


class Registrar:
    def __init__(
        self,
        registry: Registry,
        instance: Instance,
        *,
        ttl: float,
        readiness: Readiness = _always_ready,
        backoff_base: float = 0.5,
        backoff_cap: float = 15.0,
    ) -> None:
        self.registry = registry
        self.instance = instance
        self.ttl = ttl
        self._readiness = readiness
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._task: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._in_call = False
        self._stopped = False
        self.registered = False
        self.last_renewed: float | None = None
        self.last_error: str | None = "not registered yet"

    def start(self) -> None:
        """Begin registering in the background; never waits for, or fails on, the registry."""
        if self._task is None and not self._stopped:
            self._task = asyncio.create_task(self._keep_registered(), name="registry-heartbeat")

    async def first_attempt(self, *, wait_s: float) -> None:
        """Wait up to `wait_s` for the first registration attempt, so readiness is right from the start."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), wait_s)

    async def stop(self, *, deregister_within_s: float = 2.0) -> None:
        """Stop heartbeats, then deregister; each step waits at most `deregister_within_s`. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._task is not None:
            # A registry call under way is let finish: cancelled, its thread could still write the
            # entry after the deregistration below. A sleeping loop is woken and exits.
            if not self._in_call:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, deregister_within_s)
            log.info("registry_heartbeats_stopped")
        try:
            await asyncio.wait_for(self.registry.deregister(self.instance), deregister_within_s)
        except (RegistryUnavailable, TimeoutError) as error:
            log.warning("registry_deregistration_failed", error=str(error))
        else:
            log.info("deregistered", key=self.instance.key)
        self.registered = False

    async def check(self) -> float:
        """Health check: seconds since the last renewal; raises while the registration is not current."""
        if self.registered and self.last_renewed is not None:
            age = time.monotonic() - self.last_renewed
            if age < self.ttl:
                return round(age, 3)
        raise RuntimeError(self.last_error or "registration expired")

    async def _keep_registered(self) -> None:
        failures = 0
        while not self._stopped:
            not_ready = await self._readiness()
            if self._stopped:
                break
            try:
                self._in_call = True
                if not_ready is None:
                    await self._register_or_renew()
                else:
                    await self._withdraw(not_ready)
            except RegistrationLost:
                self._first_attempt.set()
                log.warning("registry_registration_lost", key=self.instance.key)
                self.registered = False
                delay = 0.0
            except Exception as error:  # noqa: BLE001 - the registry must never take the service down
                failures += 1
                self._note_failure(error)
                self._first_attempt.set()
                delay = random.uniform(0, min(self._backoff_cap, self._backoff_base * 2**failures))  # noqa: S311
                log.warning("registry_heartbeat_failed", error=self.last_error, retry_in_s=round(delay, 2))
            else:
                failures = 0
                self._first_attempt.set()
                delay = self.ttl / 3
            finally:
                self._in_call = False
            if not self._stopped:
                await asyncio.sleep(delay)

    async def _register_or_renew(self) -> None:
        if self.registered:
            await self.registry.heartbeat(self.instance, self.ttl)
        else:
            await self.registry.register(self.instance, self.ttl)
            self.registered = True
            log.info("registered", key=self.instance.key, url=self.instance.url, ttl_s=self.ttl)
        self.last_renewed = time.monotonic()
        self.last_error = None

    async def _withdraw(self, reason: str) -> None:
        if self.registered:
            await self.registry.deregister(self.instance)
            self.registered = False
            log.warning("deregistered_while_not_ready", key=self.instance.key, reason=reason)
        self.last_error = f"not registered while not ready ({reason})"

    def _note_failure(self, error: Exception) -> None:
        if not isinstance(error, RegistryUnavailable):
            log.exception("registry_backend_failed")
        self.last_error = f"registry unavailable: {error}"
