"""What a radar round finds: the checks' results, and their sums per service and instance."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..registry import DEFAULT_REALM


@dataclass(frozen=True)
class CheckResult:
    """One check of one instance: what it asked, what it got, and why it failed (if it did)."""

    service: str
    instance: str
    url: str
    check: str
    passed: bool
    status: int | None = None  # HTTP status of the answer, None when there was none
    latency_ms: float | None = None  # request time (standard checks) or check time (API checks)
    detail: str = ""  # why it failed, in one line
    response_excerpt: str = ""  # the answer that failed it: status line, content type, body
    kind: str = "standard"  # "standard" or "api" (the service's own checks)


@dataclass(frozen=True)
class Target:
    """A live instance to check, as the registry lists it."""

    service: str
    instance: str
    url: str
    version: str = ""


@dataclass(frozen=True)
class RadarRequest:
    """What to check and how patiently."""

    realm: str = DEFAULT_REALM
    registry_url: str | None = None  # None: SVC_REGISTRY_URL, else the local registry
    paths: tuple[Path, ...] = ()  # service checkouts whose API checks also run
    timeout_s: float = 5.0  # per check: one request of a standard check, one test of the API checks
    latency_budget_ms: float = 1000.0  # a slower answer fails its check
    suite_timeout_s: float = 300.0  # one service's API checks against one instance, at most
    concurrency: int = 16  # instances checked at once
    api_jobs: int = 2  # API-check runs (pytest processes) at once


@dataclass(frozen=True)
class InstanceSummary:
    service: str
    instance: str
    url: str
    available: bool  # /livez answered 200
    passed: int
    failed: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class ServiceSummary:
    service: str
    instances: tuple[InstanceSummary, ...]
    passed: int
    failed: int
    availability: float  # share of its instances that are available, 0..1
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class RadarReport:
    realm: str
    registry_url: str
    started_at: str
    duration_s: float
    results: tuple[CheckResult, ...]
    notes: tuple[str, ...] = ()  # things worth saying that are not failures

    @property
    def ok(self) -> bool:
        """Every check passed, and there was something to check."""
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def services(self) -> list[ServiceSummary]:
        by_service: dict[str, list[CheckResult]] = {}
        for result in self.results:
            by_service.setdefault(result.service, []).append(result)
        return [_summarise_service(name, results) for name, results in sorted(by_service.items())]


@dataclass
class WatchState:
    """What `watch_radar` keeps between rounds; `stop` ends the loop from another thread."""

    rounds: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (`share` in 0..1): always one of `values`, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- one round ----------------------------------------------------------------------------


def _summarise_service(service: str, results: list[CheckResult]) -> ServiceSummary:
    by_instance: dict[str, list[CheckResult]] = {}
    for result in results:
        by_instance.setdefault(result.instance, []).append(result)
    instances = tuple(
        _summarise_instance(name, rs) for name, rs in sorted(by_instance.items()) if name != "-"
    )
    latencies = standard_latencies(results)
    return ServiceSummary(
        service=service,
        instances=instances,
        passed=sum(r.passed for r in results),
        failed=sum(not r.passed for r in results),
        availability=(sum(i.available for i in instances) / len(instances)) if instances else 0.0,
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
    )


def _summarise_instance(instance: str, results: list[CheckResult]) -> InstanceSummary:
    latencies = standard_latencies(results)
    return InstanceSummary(
        service=results[0].service,
        instance=instance,
        url=results[0].url,
        available=any(r.check == "livez" and r.status == 200 for r in results),
        passed=sum(r.passed for r in results),
        failed=sum(not r.passed for r in results),
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
    )


def standard_latencies(results: Iterable[CheckResult]) -> list[float]:
    # API-check times include pytest's own work; only the standard checks' requests are latency.
    return [r.latency_ms for r in results if r.kind == "standard" and r.latency_ms is not None]
