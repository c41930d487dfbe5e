"""One radar round, and the watch loop of `svc radar watch`.

One round reads the live instances of a realm from the registry, runs the standard checks
(livez, readyz, health, metrics: status, shape and latency) against every one, and, for each
service checkout given, that service's own API checks (`api_checks/`, run with pytest in the
service's environment) against each of its live instances. Every outcome is a `CheckResult`;
a `RadarReport` adds them up per service and instance. Nothing here prints: the CLI renders
the report, `radar.export` writes JUnit XML and serves Prometheus metrics.

A failing instance, service or check never stops the others; only an unreachable registry
(`RegistryError`) or bad input (`InputError`) ends a round early.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from ..errors import InputError, RegistryError
from ..registry import default_registry_url, list_instances
from .checks import ServiceCheckout, load_checkout, run_api_checks, run_standard_checks
from .model import CheckResult, RadarReport, RadarRequest, Target, WatchState, percentile, standard_latencies


def run_radar(request: RadarRequest) -> RadarReport:
    """One round over the realm. Raises `RegistryError` when the registry cannot be read."""

    _validate(request)
    checkouts = [load_checkout(path) for path in request.paths]  # bad PATHs fail before any request
    registry_url = request.registry_url or default_registry_url()
    started, clock = datetime.now(UTC), time.monotonic()
    records = list_instances(registry_url, request.realm)
    targets = [
        Target(r.service, r.instance, r.url or f"http://{r.address}:{r.port}", r.version) for r in records
    ]
    results, notes = _check_round(request, targets, checkouts)
    if not targets:
        notes.insert(0, f"No instances are registered in realm {request.realm!r}; nothing was checked.")
    return RadarReport(
        realm=request.realm,
        registry_url=registry_url,
        started_at=started.isoformat().replace("+00:00", "Z"),
        duration_s=round(time.monotonic() - clock, 3),
        results=tuple(results),
        notes=tuple(notes),
    )


def watch_radar(
    request: RadarRequest,
    every_s: float,
    on_round: Callable[[RadarReport | RegistryError], None],
    state: WatchState | None = None,
    max_rounds: int | None = None,
) -> WatchState:
    """Run rounds every `every_s` seconds until `state.stop` is set or `max_rounds` have run.

    The first round's `RegistryError` is raised (a wrong URL should stop the monitor at once);
    later ones are handed to `on_round`, and the monitor carries on.
    """
    state = state or WatchState()
    while not state.stop.is_set() and (max_rounds is None or state.rounds < max_rounds):
        began = time.monotonic()
        try:
            outcome: RadarReport | RegistryError = run_radar(request)
        except RegistryError as error:
            if state.rounds == 0:
                raise
            outcome = error
        state.rounds += 1
        on_round(outcome)
        if max_rounds is None or state.rounds < max_rounds:
            state.stop.wait(max(0.0, every_s - (time.monotonic() - began)))
    return state


def parse_duration(text: str) -> float:
    """`60s`, `5m`, `1h`, `1m30s` or a plain number of seconds, as seconds (> 0)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    remaining, total = text.strip().lower(), 0.0
    try:
        if remaining.replace(".", "", 1).isdigit():
            total = float(remaining)
        else:
            while remaining:
                digits = len(remaining) - len(remaining.lstrip("0123456789."))
                unit = "ms" if remaining[digits:].startswith("ms") else remaining[digits : digits + 1]
                total += float(remaining[:digits]) * units[unit]
                remaining = remaining[digits + len(unit) :]
    except (ValueError, KeyError):
        total = 0.0
    if total <= 0:
        raise InputError(f"{text!r} is not a duration; write it as 60s, 5m, 1h or 1m30s.")
    return total


def round_line(report: RadarReport) -> str:
    """One line for a round of `svc radar watch`: when, what, how it went, what failed."""
    instances = sum(len(s.instances) for s in report.services())
    head = f"{report.started_at} realm {report.realm}: {instances} instance(s)"
    if not report.results:
        return f"{head}: nothing to check"
    latencies = standard_latencies(report.results)
    p95 = percentile(latencies, 0.95)
    timing = f", p95 {p95:.0f} ms" if p95 is not None else ""
    failures = report.failures
    if not failures:
        return f"{head}, {len(report.results)}/{len(report.results)} checks passed{timing}"
    named = "; ".join(f"{r.service} {r.instance} {r.check} ({r.detail})" for r in failures[:3])
    more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
    return f"{head}, {len(failures)} of {len(report.results)} checks FAILED{timing}: {named}{more}"


def _validate(request: RadarRequest) -> None:
    if request.timeout_s <= 0 or request.suite_timeout_s <= 0 or request.latency_budget_ms <= 0:
        raise InputError("Timeouts and the latency budget must be positive numbers.")


def _check_round(
    request: RadarRequest, targets: list[Target], checkouts: Sequence[ServiceCheckout]
) -> tuple[list[CheckResult], list[str]]:

    results = asyncio.run(
        run_standard_checks(
            targets,
            timeout_s=request.timeout_s,
            latency_budget_ms=request.latency_budget_ms,
            concurrency=request.concurrency,
        )
    )
    # An instance that did not answer /livez would fail every API check the same way: say it once.
    silent = {(r.service, r.instance) for r in results if r.check == "livez" and r.status is None}
    notes: list[str] = []
    jobs: list[tuple[ServiceCheckout, Target]] = []
    for checkout in checkouts:
        live = [t for t in targets if t.service == checkout.service]
        if checkout.checks_dir is None:
            notes.append(f"{checkout.service} has no API checks (no api_checks/ folder in {checkout.path}).")
        elif not live:
            results.append(_no_live_instance(checkout.service, request.realm))
        for target in live if checkout.checks_dir is not None else []:
            if (target.service, target.instance) in silent:
                results.append(_not_run(target))
            else:
                jobs.append((checkout, target))
    with ThreadPoolExecutor(max_workers=max(1, request.api_jobs)) as pool:
        runs = pool.map(lambda job: run_api_checks(job[0], job[1], request), jobs)
        for api_results in runs:
            results.extend(api_results)
    return sorted(results, key=_order), notes


def _no_live_instance(service: str, realm: str) -> CheckResult:
    return CheckResult(
        service=service,
        instance="-",
        url="",
        check="api:live instances",
        passed=False,
        detail=f"no live instance of {service} is registered in realm {realm!r}; its API checks did not run",
        kind="api",
    )


def _not_run(target: Target) -> CheckResult:
    return CheckResult(
        service=target.service,
        instance=target.instance,
        url=target.url,
        check="api",
        passed=False,
        detail="not run: the instance did not answer /livez",
        kind="api",
    )


def _order(result: CheckResult) -> tuple[str, str, bool]:
    # A stable sort on this keeps the standard checks in their own order (livez first).
    return (result.service, result.instance, result.kind != "standard")
