# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""RED metrics labelled by route template, a build-info gauge, and the `/metrics` endpoint.

With several worker processes set PROMETHEUS_MULTIPROC_DIR (an empty directory, before the
processes start): every process then writes its samples there and any of them serves the sum.
"""

from __future__ import annotations

import os
import platform

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    gc_collector,
    generate_latest,
    multiprocess,
    platform_collector,
    process_collector,
)
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
        if multiprocess_dir() is None:
            # Process metrics cannot be summed across workers, so they exist only in single-process mode.
            process_collector.ProcessCollector(registry=self.registry)
            platform_collector.PlatformCollector(registry=self.registry)
            gc_collector.GCCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to handle an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        # The route is known only once routing is done, so requests in flight count by method.
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being handled now, by method.",
            ["method"],
            multiprocess_mode="livesum",
            registry=self.registry,
        )
        # A gauge, not an Info: Info does not work in multiprocess mode.
        build_info = Gauge(
            "service_build_info",
            "Always 1; the labels say which build is running.",
            ["service", "version", "python_version"],
            multiprocess_mode="livemax",
            registry=self.registry,
        )
        build_info.labels(service, version, platform.python_version()).set(1)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._in_progress: dict[str, Gauge] = {}

    def in_progress_of(self, method: str) -> Gauge:
        gauge = self._in_progress.get(method)
        if gauge is None:
            gauge = self._in_progress[method] = self.in_progress.labels(method)
        return gauge

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # labels() takes a lock and builds a key on every call; the children are looked up once.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.duration.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

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


def normalise_method(method: str) -> str:
    # Arbitrary methods would make unbounded label values.
    return method if method in KNOWN_METHODS else "_OTHER"


async def metrics_endpoint(request: Request) -> Response:
    metrics: HttpMetrics = request.app.state.platform.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
