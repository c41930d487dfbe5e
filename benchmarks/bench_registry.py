"""Registry and smart-client costs on loopback, against a real etcd and a real uvicorn.

    /work/venv/bin/python benchmarks/bench_registry.py [--instances 1000] [--heartbeat-seconds 20]

1. A ``service://`` call against a direct URL: the same GET to the same uvicorn server,
   sequentially, with the instance list cached (the 2 s cache refreshes as in a service).
   Compared: plain httpx, the smart client on the direct URL, and on ``service://``. The
   client logs each call in JSON (to /dev/null) and counts it, as in a service.
2. ``--instances`` simulated instances in one process register with one etcd (TTL 10 s)
   and heartbeat every TTL/3 for ``--heartbeat-seconds``: time to register all, etcd's
   CPU time over the heartbeat phase (from /proc), and lookup latency meanwhile.

Everything listens on 127.0.0.1 only; etcd and uvicorn are started here and killed at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from etcd_cluster import etcd_cluster, free_port, import_runtime, wait_until  # noqa: E402

APP = textwrap.dedent(
    """
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
    """
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    (folder / "bench_app.py").write_text(APP)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(folder),
            "bench_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/", trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=30, what="the benchmark server")
    return process, port


def instance(runtime: Any, service: str, name: str, port: int) -> Any:
    return runtime.registry.Instance(
        service=service,
        realm="bench",
        instance=name,
        address="127.0.0.1",
        port=port,
        url=f"http://127.0.0.1:{port}",
        version="0.0.0",
        started_at="2026-01-01T00:00:00Z",
    )


async def timed_calls(client: httpx.AsyncClient, url: str, count: int) -> float:
    """Mean seconds per sequential GET."""
    started = time.perf_counter()
    for _ in range(count):
        response = await client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return (time.perf_counter() - started) / count


async def call_overhead(runtime: Any, etcd_url: str, port: int, rounds: int, calls: int) -> dict:
    from prometheus_client import CollectorRegistry
    from svc_under_test.runtime.client import SmartClient

    registry = runtime.registry.open_registry(etcd_url)
    await registry.register(instance(runtime, "target", "target-1", port), 60)
    direct = f"http://127.0.0.1:{port}/"
    plain = httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(2.0, connect=0.5))
    smart = SmartClient(registry, "bench", metrics_registry=CollectorRegistry())
    variants = {
        "httpx, direct URL": (plain, direct),
        "smart client, direct URL": (smart, direct),
        "smart client, service://": (smart, "service://target/"),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for client, url in variants.values():
            await timed_calls(client, url, 200)  # connections open, cache warm
        for _ in range(rounds):
            order = list(variants.items())
            random.shuffle(order)  # no variant always runs first, or last
            for name, (client, url) in order:
                results[name].append(await timed_calls(client, url, calls))
    finally:
        await plain.aclose()
        await smart.aclose()
        await registry.deregister(instance(runtime, "target", "target-1", port))
        await registry.aclose()
    per_call = {name: statistics.median(values) for name, values in results.items()}
    base = per_call["httpx, direct URL"]
    return {
        "per_call_us": {name: round(value * 1e6, 1) for name, value in per_call.items()},
        "ratio_service_vs_direct": round(per_call["smart client, service://"] / base, 3),
        "ratio_smart_direct_vs_direct": round(per_call["smart client, direct URL"] / base, 3),
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"n": 0}
    return {
        "n": len(seconds),
        "p50": round(statistics.median(seconds) * 1000, 2),
        "p99": round(percentile(seconds, 0.99) * 1000, 2),
    }


class Fleet:
    """Simulated instances that register, then heartbeat every TTL/3 as the registrar does.

    Each has a registry client (and so a connection to etcd) of its own, as separate
    processes would; one shared client would measure httpx's connection pool with a
    thousand waiters instead of etcd.
    """

    def __init__(self, runtime: Any, registry: Any, etcd_url: str, count: int, ttl: float) -> None:
        self.runtime = runtime
        self.registry = registry  # for lookups
        self.ttl = ttl
        self.services = [f"svc{index:02d}" for index in range(50)]
        self.entries = [
            instance(runtime, self.services[index % 50], f"i{index:04d}", 20000 + index)
            for index in range(count)
        ]
        self.clients = [runtime.registry.open_registry(etcd_url) for _ in range(count)]
        self.registered = 0
        self.all_registered = asyncio.Event()
        self.stop = asyncio.Event()
        self.beats = 0
        self.errors: dict[str, int] = {}
        self.limit = asyncio.Semaphore(64)  # instances starting at once, as in a rollout

    async def run_instance(self, index: int) -> None:
        entry, client = self.entries[index], self.clients[index]
        await self.register(entry, client)
        self.registered += 1
        if self.registered == len(self.entries):
            self.all_registered.set()
        while not await self.sleep(self.ttl / 3):
            try:
                await client.heartbeat(entry, self.ttl)
                self.beats += 1
            except self.runtime.registry.RegistrationLost:
                self.count_error("lost")
                await self.register(entry, client)
            except self.runtime.registry.RegistryUnavailable:
                self.count_error("unavailable")

    async def register(self, entry: Any, client: Any) -> None:
        while True:
            async with self.limit:
                try:
                    await client.register(entry, self.ttl)
                    return
                except self.runtime.registry.RegistryUnavailable:
                    self.count_error("register unavailable")
            await asyncio.sleep(random.uniform(0, 1))  # as the registrar backs off

    async def sleep(self, seconds: float) -> bool:
        """Sleep, or return True at once when the fleet stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)
        return self.stop.is_set()

    def count_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def close(self) -> None:
        for entry, client in zip(self.entries, self.clients, strict=True):
            with contextlib.suppress(self.runtime.registry.RegistryUnavailable):
                await client.deregister(entry)
            await client.aclose()


async def lookups(fleet: Fleet, found: list[float], listed: list[float], errors: list[str]) -> None:
    """Five lookups a second (a few callers with a 2 s cache) and a realm listing each second."""
    expected = len(fleet.entries) // len(fleet.services)
    rounds = 0
    while not await fleet.sleep(0.2):
        rounds += 1
        try:
            begun = time.perf_counter()
            instances = await fleet.registry.lookup("bench", random.choice(fleet.services))
            found.append(time.perf_counter() - begun)
            if len(instances) != expected:
                errors.append(f"lookup found {len(instances)} of {expected}")
            if rounds % 5 == 0:
                begun = time.perf_counter()
                await fleet.registry.list_realm("bench")
                listed.append(time.perf_counter() - begun)
        except fleet.runtime.registry.RegistryUnavailable as error:
            errors.append(str(error))


async def fleet_load(runtime: Any, etcd_url: str, etcd_pid: int, count: int, seconds: float) -> dict:
    registry = runtime.registry.open_registry(etcd_url)
    fleet = Fleet(runtime, registry, etcd_url, count, ttl=10.0)
    started = time.perf_counter()
    tasks = [asyncio.create_task(fleet.run_instance(index)) for index in range(count)]
    await fleet.all_registered.wait()
    register_seconds = time.perf_counter() - started

    found: list[float] = []
    listed: list[float] = []
    lookup_errors: list[str] = []
    tasks.append(asyncio.create_task(lookups(fleet, found, listed, lookup_errors)))
    beats_before, etcd_before, own_before = fleet.beats, cpu_seconds(etcd_pid), cpu_seconds(os.getpid())
    wall_before = time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - wall_before
    etcd_used, own_used = cpu_seconds(etcd_pid) - etcd_before, cpu_seconds(os.getpid()) - own_before
    beats = fleet.beats - beats_before
    fleet.stop.set()
    await asyncio.gather(*tasks)
    await fleet.close()
    await registry.aclose()
    return {
        "instances": count,
        "register_all_seconds": round(register_seconds, 2),
        "heartbeats_per_second": round(beats / wall, 1),
        "heartbeats_expected_per_second": round(count / (fleet.ttl / 3), 1),
        "heartbeat_errors": fleet.errors,
        "etcd_cpu_percent_of_one_core": round(100 * etcd_used / wall, 1),
        # The simulated fleet shares one Python process; near 100 it, not etcd, is the limit.
        "simulator_cpu_percent_of_one_core": round(100 * own_used / wall, 1),
        "lookup_ms": summary(found) | {"instances_per_lookup": count // len(fleet.services)},
        "list_realm_ms": summary(listed) | {"instances_per_listing": count},
        "lookup_errors": lookup_errors[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000, help="0 skips the fleet part")
    parser.add_argument("--heartbeat-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=500)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-registry-") as temp:
        root = Path(temp)
        runtime = import_runtime(root / "runtime")
        from svc_under_test.runtime.logs import configure_logging

        configure_logging(log_format="json", level="info", static={"service": "bench"})
        server, port = start_server(root)
        report: dict[str, Any] = {}
        try:
            with etcd_cluster(root / "etcd") as etcd, open(os.devnull, "w") as sink:
                pid = etcd.members[0].process.pid  # type: ignore[union-attr]
                # Log lines are rendered as in a service, then dropped.
                with contextlib.redirect_stdout(sink):
                    report["service_call"] = asyncio.run(
                        call_overhead(runtime, etcd.registry_url, port, options.rounds, options.calls)
                    )
                    if options.instances > 0:
                        report["fleet"] = asyncio.run(
                            fleet_load(
                                runtime, etcd.registry_url, pid, options.instances, options.heartbeat_seconds
                            )
                        )
        finally:
            server.kill()
            server.wait()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
