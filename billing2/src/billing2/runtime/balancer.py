# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Which instance the smart client tries first, and which it sets aside for a while.

A killed instance stays in the registry until its lease expires; without this, every
call would first try it and pay a failed attempt (a retry, and budget) each time.
Instances that fail are therefore moved to the back of the line for a while (passive
outlier ejection, as Envoy does), but never dropped: when every instance has failed
recently, they are still tried, in the order in which they come back.

Instances are tracked by their registry key (plain URLs by scheme, host and port): a new
instance at the address of a dead one is not set aside for its predecessor's failures.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_MAX_TRACKED = 1024


@dataclass
class _Health:
    in_flight: int = 0
    consecutive_failures: int = 0
    times_set_aside: int = 0
    aside_until: float = 0.0


class Balancer:
    """Orders an instance list for one call: least busy first, failing ones last.

    ``fail_threshold`` consecutive failures set an instance aside (a refused connection
    is definite and sets it aside at once); each further time doubles the period, up to
    ``max_aside_seconds``. A success brings it back at once.
    """

    def __init__(
        self,
        *,
        fail_threshold: int = 3,
        aside_seconds: float = 10.0,
        max_aside_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._fail_threshold = fail_threshold
        self._aside_seconds = aside_seconds
        self._max_aside_seconds = max_aside_seconds
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - load spreading, not secrets
        self._health: dict[str, _Health] = {}

    def order(self, targets: Sequence[str]) -> list[str]:
        """``targets`` in the order to try them."""
        now = self._clock()
        ready = [t for t in targets if self._get(t).aside_until <= now]
        aside = [t for t in targets if self._get(t).aside_until > now]
        # Fewest requests in flight first (least-outstanding); random among equals, so
        # that many clients do not all pick the same instance.
        ready.sort(key=lambda t: (self._get(t).in_flight, self._rng.random()))
        aside.sort(key=lambda t: self._get(t).aside_until)
        return ready + aside

    def is_set_aside(self, target: str) -> bool:
        return self._get(target).aside_until > self._clock()

    def started(self, target: str) -> None:
        self._get(target).in_flight += 1

    def finished(self, target: str) -> None:
        health = self._get(target)
        health.in_flight = max(0, health.in_flight - 1)

    def succeeded(self, target: str) -> None:
        health = self._get(target)
        health.consecutive_failures = 0
        health.times_set_aside = 0
        health.aside_until = 0.0

    def failed(self, target: str, *, definite: bool = False) -> None:
        """Count a failure; ``definite`` (nothing listens there) sets the target aside now."""
        health = self._get(target)
        health.consecutive_failures += 1
        if definite or health.consecutive_failures >= self._fail_threshold:
            period = self._aside_seconds * 2**health.times_set_aside
            health.aside_until = self._clock() + min(period, self._max_aside_seconds)
            health.times_set_aside += 1
            health.consecutive_failures = 0

    def _get(self, target: str) -> _Health:
        health = self._health.get(target)
        if health is None:
            if len(self._health) >= _MAX_TRACKED:
                self._forget_idle()
            health = self._health[target] = _Health()
        return health

    def _forget_idle(self) -> None:
        # Instances come and go (new ports, new hosts); keep only state that matters.
        now = self._clock()
        for target, health in list(self._health.items()):
            if health.in_flight == 0 and health.aside_until <= now:
                del self._health[target]
