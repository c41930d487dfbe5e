# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""When the smart client may send a request again, how long it waits, and how often.

The rules follow HTTP semantics (RFC 9110 §9.2.2): a request that never reached the
server (connection refused, connect timeout, no pooled connection) can be retried
whatever its method; one that may have been processed (read error, 502/503/504) only
when its method is idempotent or it carries an ``Idempotency-Key``. 429 means "refused
before processing", so it is safe for any method and its ``Retry-After`` is honoured.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
GATEWAY_STATUSES = frozenset({502, 503, 504})
MAX_ATTEMPTS_CAP = 5

# The request never left this process, or never reached a server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have reached the server and been acted on.
_MAYBE_SENT = (
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """The smart client's knobs; the defaults are the platform's policy.

    ``deadline`` bounds a whole call: every attempt and every wait between them.
    The retry budget lets retries add at most ``budget_ratio`` of the requests sent to
    one target over ``budget_window`` seconds, plus ``budget_min_per_second`` so that a
    quiet client can still retry at all (Finagle's RetryBudget).
    """

    max_attempts: int = 3
    deadline: float = 5.0
    backoff_base: float = 0.05
    backoff_cap: float = 1.0
    budget_ratio: float = 0.2
    budget_min_per_second: float = 10.0
    budget_window: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS_CAP:
            raise ValueError(f"max_attempts must be between 1 and {MAX_ATTEMPTS_CAP}")
        if self.deadline <= 0 or self.budget_window <= 0:
            raise ValueError("deadline and budget_window must be positive")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Full-jitter backoff before retry ``retry_number`` (1 for the first retry)."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry_number - 1))
        return (rng or random).uniform(0.0, ceiling)


def is_replay_safe(request: httpx.Request) -> bool:
    """Whether sending ``request`` twice does no more than sending it once."""
    return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers


def reason_for_error(exc: httpx.TransportError, replay_safe: bool) -> str | None:
    """Why a failed attempt may be retried ("connect", "read"), or None if it may not."""
    if isinstance(exc, _NOT_SENT):
        return "connect"
    if replay_safe and isinstance(exc, _MAYBE_SENT):
        return "read"
    return None


def reason_for_status(status: int, replay_safe: bool) -> str | None:
    """Why a response may be retried (its status as text), or None if it may not."""
    if status == 429 or (replay_safe and status in GATEWAY_STATUSES):
        return str(status)
    return None


def retry_after(response: httpx.Response, now: Callable[[], datetime] | None = None) -> float:
    """Seconds the server asked us to wait (``Retry-After``: seconds or an HTTP date); 0 if none."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, now)
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def _seconds_until(http_date: str, now: Callable[[], datetime] | None) -> float:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return 0.0
    current = now() if now else datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - current).total_seconds()


class RetryBudget:
    """Caps retries to a share of recent requests, so retries cannot multiply an outage.

    Counts live in one-second buckets over a sliding window, so memory stays constant
    whatever the request rate.
    """

    def __init__(
        self,
        ratio: float,
        min_per_second: float,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ratio = ratio
        self._reserve = min_per_second * window
        self._window = window
        self._clock = clock
        self._buckets: deque[list[int]] = deque()  # [second, requests, retries]

    @classmethod
    def for_policy(cls, policy: RetryPolicy) -> RetryBudget:
        return cls(policy.budget_ratio, policy.budget_min_per_second, policy.budget_window)

    def record_request(self) -> None:
        """Count a first attempt: it earns ``ratio`` of a retry."""
        self._bucket()[1] += 1

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when it is spent."""
        current = self._bucket()
        requests = sum(bucket[1] for bucket in self._buckets)
        retries = sum(bucket[2] for bucket in self._buckets)
        if retries + 1 > self._ratio * requests + self._reserve:
            return False
        current[2] += 1
        return True

    def _bucket(self) -> list[int]:
        second = math.floor(self._clock())
        while self._buckets and self._buckets[0][0] <= second - self._window:
            self._buckets.popleft()
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
        return self._buckets[-1]
