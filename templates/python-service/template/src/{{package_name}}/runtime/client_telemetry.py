# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Log lines and Prometheus metrics of the smart client's outgoing calls.

Metrics are labelled by target service (the ``service://`` name, or the host of a plain
URL), method and status; ``status`` is the HTTP status, or the exception's class name
when no response came back.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from .logs import get_logger

# OpenTelemetry's advice for HTTP client durations, in seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

_C = TypeVar("_C", Counter, Histogram)

log = get_logger(__name__)


def _collector(registry: CollectorRegistry, kind: type[_C], name: str, **kwargs: Any) -> _C:
    """Create a collector, or return the one already registered under ``name``.

    The runtime can be imported more than once in one process (tests, reloaders); a
    second registration of the same name would raise.
    """
    try:
        return kind(name, registry=registry, **kwargs)
    except ValueError:
        # prometheus_client offers no public lookup by name.
        existing = registry._names_to_collectors[name.removesuffix("_total")]
        if not isinstance(existing, kind):
            raise
        return existing


class ClientTelemetry:
    """Records every call once (after its last attempt) and every retry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.requests = _collector(
            registry,
            Counter,
            "http_client_requests_total",
            documentation="Calls made by the smart client, after retries.",
            labelnames=("target", "method", "status"),
        )
        self.duration = _collector(
            registry,
            Histogram,
            "http_client_request_duration_seconds",
            documentation="Time from a call's start to its final response headers.",
            labelnames=("target", "method"),
            buckets=_BUCKETS,
        )
        self.retries = _collector(
            registry,
            Counter,
            "http_client_retries_total",
            documentation="Retries made by the smart client, by reason.",
            labelnames=("target", "reason"),
        )
        self.budget_exhausted = _collector(
            registry,
            Counter,
            "http_client_retry_budget_exhausted_total",
            documentation="Retries not made because the target's retry budget was spent.",
            labelnames=("target",),
        )

    def call(
        self,
        *,
        target: str,
        method: str,
        url: str,
        status: int | str,
        attempts: int,
        seconds: float,
    ) -> None:
        self.requests.labels(target=target, method=method, status=str(status)).inc()
        self.duration.labels(target=target, method=method).observe(seconds)
        # Debug: a line per call would double the log of a busy caller; the metrics above count every call.
        log.debug(
            "client_request",
            target=target,
            method=method,
            url=_without_query(url),
            status=status,
            attempts=attempts,
            duration_ms=round(seconds * 1000, 2),
        )

    def retry(self, *, target: str, url: str, reason: str, attempt: int, wait: float) -> None:
        self.retries.labels(target=target, reason=reason).inc()
        log.info(
            "client_retry",
            target=target,
            url=_without_query(url),
            reason=reason,
            attempt=attempt,
            wait_ms=round(wait * 1000, 1),
        )

    def out_of_budget(self, *, target: str) -> None:
        self.budget_exhausted.labels(target=target).inc()
        log.warning("client_retry_budget_exhausted", target=target)


def _without_query(url: str) -> str:
    """The URL as a log line may hold it: a query string may carry a key (`?api_key=...`)."""
    return url.split("?", 1)[0]
