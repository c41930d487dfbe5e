"""`svc radar run/watch`: API checks and monitoring of a realm."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import EXIT_ACT, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, F, main, print_json

if TYPE_CHECKING:
    from ..radar import RadarReport

# --- svc radar -----------------------------------------------------------------------------


@main.group()
def radar() -> None:
    """API testing and monitoring: check every instance in a realm."""


def _radar_options(func: F) -> F:
    options = [
        click.argument("paths", nargs=-1, type=click.Path(file_okay=False, path_type=Path)),
        click.option(
            "--realm",
            envvar="SVC_REALM",
            default="dev",
            show_default=True,
            help="Realm whose instances to check (default: SVC_REALM, else dev).",
        ),
        click.option(
            "--registry", "registry_url", metavar="URL", help="Registry (default: SVC_REGISTRY_URL)."
        ),
        click.option(
            "--timeout",
            "timeout_s",
            type=click.FloatRange(min=0, min_open=True),
            default=5.0,
            show_default=True,
            help="Seconds one check may take.",
        ),
        click.option(
            "--latency-budget",
            "latency_budget_ms",
            type=click.FloatRange(min=0, min_open=True),
            default=1000.0,
            show_default=True,
            help="Milliseconds an answer may take before its check fails.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of the table."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _radar_request(
    paths: tuple[Path, ...], realm: str, registry_url: str | None, timeout_s: float, latency_budget_ms: float
) -> Any:
    from ..radar import RadarRequest

    return RadarRequest(
        realm=realm,
        registry_url=registry_url,
        paths=paths,
        timeout_s=timeout_s,
        latency_budget_ms=latency_budget_ms,
    )


@radar.command("run")
@_radar_options
@click.option(
    "--junit", "junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write JUnit XML."
)
def radar_run(
    paths: tuple[Path, ...],
    realm: str,
    registry_url: str | None,
    timeout_s: float,
    latency_budget_ms: float,
    as_json: bool,
    junit: Path | None,
) -> None:
    """Check every instance in the realm; with PATHS (service checkouts), also their API checks.

    Exit 0 when every check passed, 1 otherwise, 2 when the registry cannot be read.
    """
    from ..radar import run_radar

    report = run_radar(_radar_request(paths, realm, registry_url, timeout_s, latency_budget_ms))
    if junit is not None:
        from ..radar import write_junit

        write_junit(report, junit)
    if as_json:
        print_json(_report_doc(report))
    else:
        _show_radar(report)
    sys.exit(EXIT_OK if report.ok else EXIT_ACT)


def _show_radar(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    services = report.services()
    instances = sum(len(s.instances) for s in services)
    click.echo(
        f"Realm {report.realm} ({report.registry_url}): {len(services)} service(s), {instances} instance(s), "
        f"{len(report.results)} check(s), {len(report.failures)} failed, in {report.duration_s:.1f} s."
    )
    if services:
        table = Table("service", "instance", "url", "up", "passed", "failed", "p50 ms", "p95 ms")
        for s in services:
            for i in s.instances:
                up = "yes" if i.available else "NO"
                table.add_row(s.service, i.instance, i.url, up, str(i.passed), str(i.failed), *_ms(i))
            share = f"{sum(i.available for i in s.instances)}/{len(s.instances)} ({s.availability:.0%})"
            table.add_row(
                s.service, "(all)", "", share, str(s.passed), str(s.failed), *_ms(s), end_section=True
            )
        (Console() if sys.stdout.isatty() else Console(width=200, no_color=True)).print(table)
    for failure in report.failures:
        where = f"{failure.service} {failure.instance} {failure.url}".rstrip()
        click.secho(f"FAILED {where} {failure.check}: {failure.detail}", fg="red")
        for line in failure.response_excerpt.splitlines():
            click.echo(f"    {line}")
    for note in report.notes:
        click.secho(note, fg="yellow")


def _ms(summary: Any) -> list[str]:
    return [f"{v:.1f}" if v is not None else "-" for v in (summary.p50_ms, summary.p95_ms)]


@radar.command("watch")
@_radar_options
@click.option("--every", default="60s", show_default=True, metavar="DURATION", help="Time between rounds.")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=9469,
    show_default=True,
    help="Port of the Prometheus /metrics endpoint (0: any free port).",
)
@click.option(
    "--metrics-addr", default="127.0.0.1", show_default=True, help="Address the endpoint listens on."
)
def radar_watch(
    paths: tuple[Path, ...],
    realm: str,
    registry_url: str | None,
    timeout_s: float,
    latency_budget_ms: float,
    as_json: bool,
    every: str,
    metrics_port: int,
    metrics_addr: str,
) -> None:
    """Run the checks every DURATION as a monitor, exporting the results as Prometheus metrics.

    Prints a line per round (a JSON document per line with --json) until Ctrl-C.
    """
    import signal

    from ..radar import RadarExporter, RadarReport, WatchState, parse_duration, round_line, watch_radar

    every_s = parse_duration(every)
    request = _radar_request(paths, realm, registry_url, timeout_s, latency_budget_ms)
    exporter = RadarExporter(metrics_port, metrics_addr)
    state = WatchState()
    # SIGTERM (a service manager stopping the monitor) ends it after the round under way.
    signal.signal(signal.SIGTERM, lambda signum, frame: state.stop.set())
    click.echo(
        f"Watching realm {realm} every {every}; metrics on http://{metrics_addr}:{exporter.port}/metrics",
        err=True,
    )

    def on_round(outcome: Any) -> None:
        exporter.publish(outcome)
        if isinstance(outcome, RadarReport):
            click.echo(json.dumps(_report_doc(outcome), default=str) if as_json else round_line(outcome))
        else:
            click.echo(f"registry unreachable: {outcome}", err=True)

    try:
        watch_radar(request, every_s, on_round, state)
    except KeyboardInterrupt as err:
        from ..errors import Terminated

        click.echo(f"Stopped after {state.rounds} round(s).", err=True)
        sys.exit(EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED)
    finally:
        exporter.close()
    click.echo(f"Stopped after {state.rounds} round(s).", err=True)


def _report_doc(report: RadarReport) -> dict[str, Any]:
    """The document `--json` prints: summary, per service and instance, every check, notes."""
    return {
        "realm": report.realm,
        "registry": report.registry_url,
        "started_at": report.started_at,
        "duration_s": report.duration_s,
        "ok": report.ok,
        "checks": len(report.results),
        "failed": len(report.failures),
        "services": [asdict(s) for s in report.services()],
        "results": [asdict(r) for r in report.results],
        "notes": list(report.notes),
    }
