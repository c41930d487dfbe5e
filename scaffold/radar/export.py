"""Where radar results go besides the terminal: a JUnit XML file, and Prometheus metrics.

`write_junit` makes one `<testsuite>` per service and one `<testcase>` per check (classname
`service.instance`), so CI systems show radar runs as they show tests. `RadarExporter` serves
the newest round on `/metrics` (its own `CollectorRegistry`, never the process default) for
an existing Prometheus and Alertmanager to scrape and alert on.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..errors import InputError
from .model import CheckResult, RadarReport


def write_junit(report: RadarReport, path: Path) -> None:
    """Write `report` as JUnit XML to `path` (temp file, then rename: never a half-written report)."""
    root = ET.Element("testsuites", name=f"svc radar {report.realm}")
    by_service: dict[str, list[CheckResult]] = {}
    for result in report.results:
        by_service.setdefault(result.service, []).append(result)
    for service, results in sorted(by_service.items()):
        _suite(root, service, results, report.started_at)
    if not report.results:
        # An empty realm fails the run; say so where CI looks.
        suite = ET.SubElement(root, "testsuite", name="radar", tests="1", failures="1", errors="0")
        case = ET.SubElement(suite, "testcase", classname=f"radar.{report.realm}", name="instances", time="0")
        ET.SubElement(case, "failure", message=" ".join(report.notes) or "nothing was checked")
    root.set("tests", str(len(report.results) or 1))
    root.set("failures", str(len(report.failures) if report.results else 1))
    ET.indent(root)
    target = path.expanduser()
    temp = target.with_name(f".{target.name}.tmp")
    try:
        ET.ElementTree(root).write(temp, encoding="utf-8", xml_declaration=True)
        temp.replace(target)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise InputError(f"Cannot write the JUnit report to {path}: {error.strerror or error}.") from error


def _suite(root: ET.Element, service: str, results: list[CheckResult], started_at: str) -> None:
    failures = sum(not r.passed for r in results)
    suite = ET.SubElement(
        root,
        "testsuite",
        name=service,
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        timestamp=started_at,
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{service}.{result.instance}",
            name=result.check,
            time=f"{(result.latency_ms or 0) / 1000:.3f}",
        )
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=result.detail, type=result.kind)
            failure.text = f"{result.url}\n{result.response_excerpt}".strip()


class RadarExporter:
    """Serves the newest round as Prometheus metrics on `addr:port` until `close()`."""

    def __init__(self, port: int, addr: str = "127.0.0.1") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._collector = _RadarCollector()
        self.registry.register(self._collector)
        try:
            self._server, self._thread = start_http_server(port, addr=addr, registry=self.registry)
        except OSError as error:
            raise InputError(
                f"Cannot serve metrics on {addr}:{port}: {error.strerror or error}; "
                "pick another --metrics-port."
            ) from error

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def publish(self, outcome: RadarReport | Exception) -> None:
        self._collector.update(outcome)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _RadarCollector(Collector):
    """Builds every family from the newest report at scrape time, so a scrape never sees half a round
    and instances that left the realm leave the metrics too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._report: RadarReport | None = None
        self._registry_up = 0.0
        self._rounds = 0
        self._results_total: dict[tuple[str, str, str], int] = {}

    def update(self, outcome: RadarReport | Exception) -> None:
        with self._lock:
            self._rounds += 1
            if isinstance(outcome, RadarReport):
                self._report, self._registry_up = outcome, 1.0
                for r in outcome.results:
                    key = (r.service, r.check, "passed" if r.passed else "failed")
                    self._results_total[key] = self._results_total.get(key, 0) + 1
            else:
                self._registry_up = 0.0

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            report, registry_up, rounds = self._report, self._registry_up, self._rounds
            totals = dict(self._results_total)
        yield _gauge(
            "svc_radar_registry_up", "1 when the last round could read the registry.", [], [([], registry_up)]
        )
        rounds_metric = CounterMetricFamily("svc_radar_rounds", "Rounds of checks run.")
        rounds_metric.add_metric([], rounds)
        yield rounds_metric
        results = CounterMetricFamily(
            "svc_radar_check_results", "Checks run, by outcome.", labels=["service", "check", "result"]
        )
        for (service, check, result), count in sorted(totals.items()):
            results.add_metric([service, check, result], count)
        yield results
        if report is not None:
            yield from _report_metrics(report)


def _gauge(
    name: str, doc: str, labels: list[str], samples: list[tuple[list[str], float]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _report_metrics(report: RadarReport) -> Iterator[Metric]:
    services = report.services()
    instances = [i for s in services for i in s.instances]
    yield _gauge(
        "svc_radar_last_round_timestamp_seconds",
        "When the last round finished (unix time).",
        [],
        [([], _timestamp(report))],
    )
    yield _gauge(
        "svc_radar_last_round_duration_seconds",
        "How long the last round took.",
        [],
        [([], report.duration_s)],
    )
    yield _gauge(
        "svc_radar_up",
        "1 when the instance answered /livez with 200 in the last round.",
        ["service", "instance"],
        [([i.service, i.instance], float(i.available)) for i in instances],
    )
    yield _gauge(
        "svc_radar_check_passed",
        "1 when the check passed in the last round.",
        ["service", "instance", "check"],
        [([r.service, r.instance, r.check], float(r.passed)) for r in report.results],
    )
    yield _gauge(
        "svc_radar_check_latency_seconds",
        "Time of the check in the last round.",
        ["service", "instance", "check"],
        [
            ([r.service, r.instance, r.check], r.latency_ms / 1000)
            for r in report.results
            if r.latency_ms is not None
        ],
    )
    yield _gauge(
        "svc_radar_service_availability_ratio",
        "Share of the service's instances that were up in the last round.",
        ["service"],
        [([s.service], s.availability) for s in services],
    )
    quantiles = [([s.service, "0.5"], s.p50_ms) for s in services] + [
        ([s.service, "0.95"], s.p95_ms) for s in services
    ]
    yield _gauge(
        "svc_radar_service_latency_seconds",
        "p50 and p95 of the standard checks' latency in the last round.",
        ["service", "quantile"],
        [(labels, ms / 1000) for labels, ms in quantiles if ms is not None],
    )


def _timestamp(report: RadarReport) -> float:
    return datetime.fromisoformat(report.started_at.replace("Z", "+00:00")).timestamp() + report.duration_s
