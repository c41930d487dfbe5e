"""What the platform costs per request: the generated service against a bare FastAPI app.

Renders the built-in python-service template, installs it (reusing the test venv cache), and
runs under wrk, on loopback, in the same run:

- the generated service (`python -m billing`: middleware, JSON access log, metrics, registry);
- a bare FastAPI app with the same example route (the generated `api/greetings.py` router) and
  a `/livez` that returns the same body, on the same uvicorn server, with no logging at all.

Both get `/livez` and `/v1/greetings/{name}`; the report gives throughput, p99 latency and the
service's cost relative to the bare app (target: at most 20 % of throughput). On a shared machine
throughput swings with the neighbours' load, so the cost is also given from the server's own CPU
time per request (read from /proc), which the neighbours barely move: for a single-process
server that is CPU-bound under wrk, throughput cost = 1 - (bare CPU per request / service CPU
per request).

    python benchmarks/bench_service_overhead.py [--duration 10] [--connections 32] [--rounds 2]

Needs wrk (Debian: `apt-get install -y wrk`). Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import free_port
from template_support import (
    TEMPLATES_DIR,
    install_with_its_dependencies,
    render_template,
    running_service,
)

BARE_APP = textwrap.dedent(
    """
    import uvicorn
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from billing.api import greetings
    from billing.settings import Settings

    settings = Settings()
    app = FastAPI()
    app.state.settings = settings
    app.include_router(greetings.router)


    async def livez(request: Request) -> JSONResponse:
        return JSONResponse({"status": "pass"}, media_type="application/health+json")


    app.add_api_route("/livez", livez, methods=["GET"])
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    """
)
PATHS = {"livez": "/livez", "greeting": "/v1/greetings/Ada"}


@dataclass(frozen=True)
class Result:
    app: str
    endpoint: str
    requests_per_second: float
    p99_ms: float
    cpu_us_per_request: float


def main() -> None:
    args = _parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        answers = {"service_name": "billing"}
        project = render_template(TEMPLATES_DIR / "python-service", work / "billing", answers)
        python = install_with_its_dependencies(project, work / "venv")
        (work / "bare_app.py").write_text(BARE_APP)
        commands = {
            "bare": [str(python), str(work / "bare_app.py")],
            "service": [str(python), "-m", "billing"],
        }
        env = {
            "SVC_REGISTRY_URL": f"sqlite://{work / 'registry.db'}",
            "SVC_DRAIN_SECONDS": "0",
            "SVC_LOG_FORMAT": "json",
        }
        results: list[Result] = []
        for _ in range(args.rounds):
            for app, command in commands.items():
                with running_service(command, port=free_port(), env=env, log_path=work / f"{app}.log") as srv:
                    for endpoint, path in PATHS.items():
                        _wrk(srv.base_url + path, 2, args.connections)  # warm-up
                        cpu_before = _cpu_seconds(srv.process.pid)
                        rps, p99, count = _wrk(srv.base_url + path, args.duration, args.connections)
                        cpu_us = (_cpu_seconds(srv.process.pid) - cpu_before) / count * 1e6
                        results.append(Result(app, endpoint, rps, p99, cpu_us))
    _report(results, args.json)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="best of N runs per app and endpoint")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args()


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(url: str, seconds: int, connections: int) -> tuple[float, float, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LC_ALL": "C"},
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"wrk saw errors against {url}:\n{out}")
    return rps, p99_ms, count


def _report(results: list[Result], as_json: bool) -> None:
    rows = []
    for endpoint in PATHS:
        bare = _best([r for r in results if (r.app, r.endpoint) == ("bare", endpoint)])
        service = _best([r for r in results if (r.app, r.endpoint) == ("service", endpoint)])
        rows.append(
            {
                "endpoint": endpoint,
                "bare_rps": round(bare.requests_per_second),
                "service_rps": round(service.requests_per_second),
                "bare_p99_ms": round(bare.p99_ms, 2),
                "service_p99_ms": round(service.p99_ms, 2),
                "rps_cost_pct": round((1 - service.requests_per_second / bare.requests_per_second) * 100, 1),
                "bare_cpu_us": round(bare.cpu_us_per_request, 1),
                "service_cpu_us": round(service.cpu_us_per_request, 1),
                "cpu_cost_pct": round((1 - bare.cpu_us_per_request / service.cpu_us_per_request) * 100, 1),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"{'endpoint':<9} {'bare rps':>9} {'svc rps':>8} {'bare p99':>9} {'svc p99':>9} {'rps cost':>9}"
        f" {'bare cpu/req':>13} {'svc cpu/req':>12} {'cpu cost':>9}"
    )
    for row in rows:
        print(
            f"{row['endpoint']:<9} {row['bare_rps']:>9} {row['service_rps']:>8} "
            f"{row['bare_p99_ms']:>7}ms {row['service_p99_ms']:>7}ms {row['rps_cost_pct']:>8}%"
            f" {row['bare_cpu_us']:>11}us {row['service_cpu_us']:>10}us {row['cpu_cost_pct']:>8}%"
        )


def _best(rounds: list[Result]) -> Result:
    """The round least disturbed by neighbours: highest throughput, lowest CPU per request."""
    fastest = max(rounds, key=lambda r: r.requests_per_second)
    cheapest = min(r.cpu_us_per_request for r in rounds)
    return Result(fastest.app, fastest.endpoint, fastest.requests_per_second, fastest.p99_ms, cheapest)


if __name__ == "__main__":
    main()
