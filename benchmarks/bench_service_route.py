"""CPU per request of the generated service's example route against a bare FastAPI route, in-process.

Renders the built-in python-service template, installs it (reusing the test venv cache), and in
one process of that venv builds, side by side:

- a bare FastAPI app with the same example route (the generated `api/greetings.py` router);
- the generated app (`create_app()`) in its default configuration: JSON logs, access log,
  metrics, request ids, a registered instance (SQLite registry in a temporary directory).

Both get `GET /v1/greetings/Ada` as direct ASGI calls (no server, no socket), so the difference is
what the platform adds to a request. Rounds alternate between the apps; the report gives the
median CPU time per request of each and their ratio (target: at most 1.25). The service's log
lines go to a file, as they would to a container's pipe.

    python benchmarks/bench_service_route.py [--requests 20000] [--rounds 7]

Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from template_support import TEMPLATES_DIR, install_with_its_dependencies, render_template

TARGET_RATIO = 1.25

# Runs inside the service's venv: argv is requests, rounds, registry URL, result path.
DRIVER = textwrap.dedent(
    """
    import asyncio
    import json
    import statistics
    import sys
    import time

    from fastapi import FastAPI

    from billing.api import greetings
    from billing.app import create_app
    from billing.settings import Settings

    requests, rounds, registry_url, result_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    settings = Settings(registry_url=registry_url)

    # The generated app sets the process's OpenTelemetry provider, which FastAPI's own request
    # tracing would then use for the bare app too: a bare app in a process without it traces nothing.
    bare = FastAPI(telemetry={"tracing": False})
    bare.state.settings = settings
    bare.include_router(greetings.router)
    service = create_app(settings)

    SCOPE = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/greetings/Ada",
        "raw_path": b"/v1/greetings/Ada",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    REQUEST = {"type": "http.request", "body": b"", "more_body": False}


    async def receive():
        return REQUEST


    async def call(app, count):
        statuses = []

        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        for _ in range(count):
            await app({**SCOPE, "state": {}}, receive, send)
        if set(statuses) != {200}:
            raise SystemExit(f"unexpected statuses {set(statuses)}")


    async def measure(app):
        start = time.process_time()
        await call(app, requests)
        return (time.process_time() - start) / requests * 1e6


    async def main():
        async with service.router.lifespan_context(service):
            await call(bare, 1000)  # warm-up: imports, caches, first-use work
            await call(service, 1000)
            samples = {"bare": [], "service": []}
            for _ in range(rounds):
                samples["bare"].append(await measure(bare))
                samples["service"].append(await measure(service))
        medians = {name: statistics.median(values) for name, values in samples.items()}
        with open(result_path, "w") as out:
            json.dump({"samples": samples, "medians": medians}, out)


    asyncio.run(main())
    """
)


def main() -> None:
    args = _parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        answers = {"service_name": "billing"}
        project = render_template(TEMPLATES_DIR / "python-service", work / "billing", answers)
        python = install_with_its_dependencies(project, work / "venv")
        (work / "driver.py").write_text(DRIVER)
        result = work / "result.json"
        with (work / "service.log").open("wb") as log:
            subprocess.run(
                [
                    str(python),
                    str(work / "driver.py"),
                    str(args.requests),
                    str(args.rounds),
                    f"sqlite://{work / 'registry.db'}",
                    str(result),
                ],
                stdout=log,
                check=True,
            )
        report = json.loads(result.read_text())
    bare, service = report["medians"]["bare"], report["medians"]["service"]
    ratio = service / bare
    if args.json:
        print(json.dumps({"bare_us": bare, "service_us": service, "ratio": ratio, **report}, indent=2))
        return
    print(f"CPU per request, median of {args.rounds} rounds of {args.requests} in-process ASGI calls")
    print(f"  bare FastAPI route      {bare:8.1f} us")
    print(f"  generated example route {service:8.1f} us")
    verdict = "within" if ratio <= TARGET_RATIO else "over"
    print(f"  ratio                   {ratio:8.2f}x ({verdict} the {TARGET_RATIO}x target)")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per round and app")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per app (at least 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    if args.rounds < 5:
        parser.error("--rounds must be at least 5")
    return args


if __name__ == "__main__":
    main()
