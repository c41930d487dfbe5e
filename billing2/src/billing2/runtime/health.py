# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Dependency checks: run concurrently, each bounded by a timeout, results cached briefly.

Register a check in one line (`platform.health.add_check("postgres", ping)`); a check is an
async callable that raises when the dependency is unwell. It may return a number to report as
its observed value; otherwise its response time in milliseconds is reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Status = Literal["pass", "warn", "fail"]
Check = Callable[[], Awaitable[float | int | None]]
ComponentType = Literal["component", "datastore", "system"]


@dataclass(frozen=True)
class RegisteredCheck:
    name: str
    check: Check
    critical: bool
    timeout: float
    component_type: ComponentType
    measurement: str
    unit: str


@dataclass(frozen=True)
class CheckResult:
    """One entry of the `checks` object of application/health+json."""

    name: str
    measurement: str
    component_type: ComponentType
    status: Status
    observed_value: float | None
    observed_unit: str
    time: str
    output: str | None

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "componentType": self.component_type,
            "status": self.status,
            "time": self.time,
        }
        if self.observed_value is not None:
            body["observedValue"] = self.observed_value
            body["observedUnit"] = self.observed_unit
        if self.output:
            body["output"] = self.output
        return body


def overall_status(results: list[CheckResult]) -> Status:
    statuses = {result.status for result in results}
    if "fail" in statuses:
        return "fail"
    return "warn" if "warn" in statuses else "pass"


class HealthChecks:
    def __init__(self, *, cache_seconds: float, default_timeout: float) -> None:
        self._checks: list[RegisteredCheck] = []
        self._cache_seconds = cache_seconds
        self._default_timeout = default_timeout
        self._cached: list[CheckResult] | None = None
        self._cached_at = 0.0
        self._lock = asyncio.Lock()

    def add_check(
        self,
        name: str,
        check: Check,
        *,
        critical: bool = True,
        timeout: float | None = None,
        component_type: ComponentType = "component",
        measurement: str = "responseTime",
        unit: str = "ms",
    ) -> None:
        """Add a readiness check; a non-critical one that fails makes the service `warn`, not `fail`."""
        if any(existing.name == name for existing in self._checks):
            raise ValueError(f"a health check named {name!r} exists already")
        timeout = self._default_timeout if timeout is None else timeout
        self._checks.append(
            RegisteredCheck(name, check, critical, timeout, component_type, measurement, unit)
        )
        self._cached = None

    def forget(self) -> None:
        """Drop the cached results: the next probe runs the checks again."""
        self._cached = None

    async def results(self) -> list[CheckResult]:
        """Results of every check, at most `cache_seconds` old, so probes never pile onto a dependency."""
        async with self._lock:
            if self._cached is None or time.monotonic() - self._cached_at >= self._cache_seconds:
                self._cached = list(await asyncio.gather(*(_run(check) for check in self._checks)))
                self._cached_at = time.monotonic()
            return self._cached


async def _run(check: RegisteredCheck) -> CheckResult:
    started = time.perf_counter()
    output: str | None = None
    observed: float | None = None
    try:
        value = await asyncio.wait_for(check.check(), timeout=check.timeout)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        observed = float(value) if value is not None else elapsed_ms
        status: Status = "pass"
    except TimeoutError:
        status, output = _failed(check), f"no answer within {check.timeout:g} s"
    except Exception as error:  # noqa: BLE001 - any failure of a check is a health result, not a crash
        status, output = _failed(check), f"{type(error).__name__}: {error}"
    return CheckResult(
        name=check.name,
        measurement=check.measurement,
        component_type=check.component_type,
        status=status,
        observed_value=observed,
        observed_unit=check.unit,
        time=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        output=output,
    )


def _failed(check: RegisteredCheck) -> Status:
    return "fail" if check.critical else "warn"
