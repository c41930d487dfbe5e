# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""RED metrics labelled by route template, a build-info gauge, and the `/metrics` endpoint.

With several worker processes set PROMETHEUS_MULTIPROC_DIR (an empty directory, before the
processes start): every process then writes its samples there and any of them serves the sum.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    disable_created_metrics,
    gc_collector,
    generate_latest,
    multiprocess,
    platform_collector,
    process_collector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response

# OpenTelemetry's advised boundaries for http.server.request.duration, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# `*_created` samples double the series and few dashboards use them.
disable_created_metrics()  # type: ignore[no-untyped-call]

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class HttpMetrics:
    """The service's instruments, in a registry of their own (one per app, so tests do not collide)."""

    def __init__(self, *, service: str, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests: LocalRequests | SharedRequests
        if multiprocess_dir() is None:
            # Process metrics cannot be summed across workers, so they exist only in single-process mode.
            process_collector.ProcessCollector(registry=self.registry)
            platform_collector.PlatformCollector(registry=self.registry)
            gc_collector.GCCollector(registry=self.registry)
            self.requests = LocalRequests()
            self.registry.register(self.requests)
        else:
            self.requests = SharedRequests(self.registry)
        # A gauge, not an Info: Info does not work in multiprocess mode.
        build_info = Gauge(
            "service_build_info",
            "Always 1; the labels say which build is running.",
            ["service", "version", "python_version"],
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        build_info.labels(service, version, platform.python_version()).set(1)

    def exposition(self) -> bytes:
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def close(self) -> None:
        """Drop this process's live gauges from the shared directory (multiprocess mode only)."""
        if multiprocess_dir() is not None:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


_REQUESTS = ("http_requests_total", "HTTP requests handled, by method, route template and status code.")
_DURATION = ("http_request_duration_seconds", "Time to handle an HTTP request, by method and route template.")
# The route is known only once routing is done, so requests in flight count by method.
_IN_PROGRESS = ("http_requests_in_progress", "HTTP requests being handled now, by method.")


# The `le` label of each bucket, written as prometheus_client writes it.
_LE_LABELS = tuple(floatToGoString(bound) for bound in (*DURATION_BUCKETS, math.inf))  # type: ignore[no-untyped-call]


@dataclass(slots=True)
class _RouteSeries:
    """What one process saw of one method and route: counts by status, and the duration histogram."""

    by_status: dict[int, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    seconds: float = 0.0


class LocalRequests(Collector):
    """The RED metrics of a single process as plain numbers, turned into samples only when scraped.

    prometheus_client's instruments take a lock and check their state on every update, which
    cost more than the rest of a request's telemetry; only the event loop's thread updates these.
    """

    def __init__(self) -> None:
        self.series: dict[tuple[str, str], _RouteSeries] = {}
        self.in_progress: dict[str, int] = {}

    def started(self, method: str) -> None:
        self.in_progress[method] = self.in_progress.get(method, 0) + 1

    def finished(self, method: str, route: str, status: int, seconds: float) -> None:
        self.in_progress[method] -= 1
        series = self.series.get((method, route))
        if series is None:
            series = self.series[method, route] = _RouteSeries()
        series.by_status[status] = series.by_status.get(status, 0) + 1
        # Prometheus buckets count values up to and including their bound.
        series.buckets[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        series.seconds += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(*_REQUESTS, labels=["method", "route", "status"])
        duration = HistogramMetricFamily(*_DURATION, labels=["method", "route"])
        for (method, route), series in list(self.series.items()):
            for status, count in list(series.by_status.items()):
                requests.add_metric([method, route, str(status)], count)
            cumulative = list(itertools.accumulate(series.buckets))
            buckets = [(le, float(count)) for le, count in zip(_LE_LABELS, cumulative, strict=True)]
            duration.add_metric([method, route], buckets, series.seconds)
        in_progress = GaugeMetricFamily(*_IN_PROGRESS, labels=["method"])
        for method, count in list(self.in_progress.items()):
            in_progress.add_metric([method], count)
        yield from (requests, duration, in_progress)


class SharedRequests:
    """The RED metrics in prometheus_client's instruments, which PROMETHEUS_MULTIPROC_DIR sums across
    processes; their children are looked up once per label set (labels() locks and builds a key)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(*_REQUESTS, ["method", "route", "status"], registry=registry)
        self.duration = Histogram(
            *_DURATION, ["method", "route"], buckets=DURATION_BUCKETS, registry=registry
        )
        self.in_progress = Gauge(*_IN_PROGRESS, ["method"], multiprocess_mode="livesum", registry=registry)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def started(self, method: str) -> None:
        self.in_progress.labels(method).inc()

    def finished(self, method: str, route: str, status: int, seconds: float) -> None:
        self.in_progress.labels(method).dec()
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.duration.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def normalise_method(method: str) -> str:
    # Arbitrary methods would make unbounded label values.
    return method if method in KNOWN_METHODS else "_OTHER"


async def metrics_endpoint(request: Request) -> Response:
    metrics: HttpMetrics = request.app.state.platform.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
