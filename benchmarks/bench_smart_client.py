"""The sync smart client against plain httpx: the same GETs to the same local uvicorn server.

    /work/main/.venv/bin/python benchmarks/bench_smart_client.py [--rounds 7] [--calls 500] [--log-level info]

In one run, side by side: N sequential GETs with a plain ``httpx.Client`` to the server's
URL, and N with ``SyncSmartClient`` to ``service://target/``, resolved through a SQLite
registry (the service's default backend, cache as in a service), once with tracing off
(``OTEL_SDK_DISABLED=true``) and once on without an exporter endpoint (a span per call,
nothing sent). The smart client logs through the service's pipeline at ``--log-level`` (the
service's default, info; the output goes to /dev/null) and counts every call. Each round
runs the three in a random order; the medians of the rounds' per-call times (wall clock,
and this process's CPU time: the server runs in another) are printed, with two ratios:
smart client (tracing off) to httpx by wall time (the target: at most 1.2), and tracing on
to off by CPU time (the target: at most 1.1).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

# Run as a script, this folder is on sys.path; bench_registry puts tests/ there too.
from bench_registry import instance, start_server
from etcd_cluster import import_runtime


def timed_calls(client: httpx.Client, url: str, count: int) -> tuple[float, float]:
    """Mean seconds per sequential GET: wall clock, and this process's CPU time."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(count):
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return (time.perf_counter() - started) / count, (time.process_time() - cpu_started) / count


# How each variant's tracing is configured (the environment `configure_tracing` reads).
TRACING_OFF = {"OTEL_SDK_DISABLED": "true"}
TRACING_ON = {"OTEL_SDK_DISABLED": "false"}  # and no OTEL_EXPORTER_OTLP_ENDPOINT


def compare(runtime: Any, registry_url: str, port: int, rounds: int, calls: int) -> dict[str, Any]:
    import asyncio

    from prometheus_client import CollectorRegistry
    from svc_under_test.runtime.client import DEFAULT_TIMEOUT, SyncSmartClient

    asyncio.run(
        runtime.registry.open_registry(registry_url).register(instance(runtime, "target", "t-1", port), 600)
    )
    plain = httpx.Client(trust_env=False, timeout=DEFAULT_TIMEOUT)
    smart = SyncSmartClient(
        runtime.registry.open_registry(registry_url), "bench", metrics_registry=CollectorRegistry()
    )
    variants = {
        "httpx": (plain, f"http://127.0.0.1:{port}/", TRACING_OFF),
        "smart client, tracing off": (smart, "service://target/", TRACING_OFF),
        "smart client, tracing on": (smart, "service://target/", TRACING_ON),
    }
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    resource = {"service.name": "bench"}
    try:
        for client, url, tracing in variants.values():
            runtime.tracing.configure_tracing(resource, tracing)
            timed_calls(client, url, 200)  # connections open, caches warm
        for _ in range(rounds):
            order = list(variants.items())
            random.shuffle(order)  # no variant always runs first, or last
            for name, (client, url, tracing) in order:
                runtime.tracing.configure_tracing(resource, tracing)
                seconds, cpu_seconds = timed_calls(client, url, calls)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    finally:
        plain.close()
        smart.close()
    wall_us = {name: statistics.median(values) * 1e6 for name, values in wall.items()}
    cpu_us = {name: statistics.median(values) * 1e6 for name, values in cpu.items()}
    return {
        "calls_per_round": calls,
        "rounds": rounds,
        "per_call_us": {name: round(value, 1) for name, value in wall_us.items()},
        "cpu_per_call_us": {name: round(value, 1) for name, value in cpu_us.items()},
        "ratio_smart_vs_httpx": round(wall_us["smart client, tracing off"] / wall_us["httpx"], 3),
        "cpu_ratio_tracing_on_vs_off": round(
            cpu_us["smart client, tracing on"] / cpu_us["smart client, tracing off"], 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    options = parser.parse_args()
    if options.rounds < 5:
        parser.error("--rounds: at least 5, for a median worth the name")
    with tempfile.TemporaryDirectory(prefix="bench-smart-client-") as folder:
        root = Path(folder)
        runtime = import_runtime(root / "runtime")
        runtime.logs.configure_logging(
            log_format="json", level=options.log_level, static={"service": "bench", "realm": "bench"}
        )
        server, port = start_server(root)
        try:
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                report = compare(
                    runtime, f"sqlite://{root / 'registry.db'}", port, options.rounds, options.calls
                )
        finally:
            server.kill()
            server.wait()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
