"""The sync smart client against plain httpx: the same GETs to the same local uvicorn server.

    /work/main/.venv/bin/python benchmarks/bench_smart_client.py [--rounds 7] [--calls 500] [--log-level info]

In one run, side by side: N sequential GETs with a plain ``httpx.Client`` to the server's
URL, and N with ``SyncSmartClient`` to ``service://target/``, resolved through a SQLite
registry (the service's default backend, cache as in a service). The smart client logs
through the service's pipeline at ``--log-level`` (the service's default, info; the output
goes to /dev/null) and counts every call. Each round runs both in a random order; the
medians of the rounds' per-call times are printed, with their ratio (the target: at most
1.2).
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


def timed_calls(client: httpx.Client, url: str, count: int) -> float:
    """Mean seconds per sequential GET."""
    started = time.perf_counter()
    for _ in range(count):
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return (time.perf_counter() - started) / count


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
    variants = {"httpx": (plain, f"http://127.0.0.1:{port}/"), "smart client": (smart, "service://target/")}
    results: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for client, url in variants.values():
            timed_calls(client, url, 200)  # connections open, caches warm
        for _ in range(rounds):
            order = list(variants.items())
            random.shuffle(order)  # no variant always runs first, or last
            for name, (client, url) in order:
                results[name].append(timed_calls(client, url, calls))
    finally:
        plain.close()
        smart.close()
    per_call = {name: statistics.median(values) for name, values in results.items()}
    return {
        "calls_per_round": calls,
        "rounds": rounds,
        "per_call_us": {name: round(value * 1e6, 1) for name, value in per_call.items()},
        "ratio_smart_vs_httpx": round(per_call["smart client"] / per_call["httpx"], 3),
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
