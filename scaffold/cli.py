"""The `svc` command line: parse, call one library function, show its result, pick the exit code.

This is the only module that talks to the terminal. Heavy libraries (copier, cookiecutter,
jinja2, rich) are imported inside the commands that need them, so `svc --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from . import __version__

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_ACT, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class SvcGroup(click.Group):
    """A group whose commands share one error boundary: clean messages, exit 2, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from .errors import ScaffoldError

        try:
            return super().invoke(ctx)
        except ScaffoldError as err:
            _fail(str(err), ctx)
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing was left half-done.", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as err:  # the boundary: anything unexpected is still one clean line
            if ctx.find_root().params.get("debug"):
                raise
            _fail(
                f"svc failed unexpectedly: {type(err).__name__}: {err} (run with --debug for details).",
                ctx,
            )


def _fail(message: str, ctx: click.Context) -> NoReturn:
    click.secho(f"error: {message}", err=True, fg="red")
    ctx.exit(EXIT_ERROR)


@click.group(cls=SvcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="svc")
@click.option("--debug", is_flag=True, help="Show a traceback when something unexpected fails.")
def main(debug: bool) -> None:
    """Generate services from a golden-path template and keep them up to date."""


def _data_option(func: F) -> F:
    return click.option(
        "-d",
        "--data",
        "data",
        multiple=True,
        metavar="KEY=VALUE",
        help="Answer a template question (repeatable).",
    )(func)


def _interactive(defaults: bool) -> bool:
    return not defaults and sys.stdin.isatty()


def _print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))


@main.command()
@click.argument("name")
@click.option(
    "--template",
    "-t",
    "template",
    default="builtin:python-service",
    show_default=True,
    metavar="SRC",
    help="Template: builtin:NAME, a folder, a git URL, or a configured name.",
)
@click.option("--ref", help="Template version: a git tag, branch or commit (default: newest release).")
@_data_option
@click.option("--defaults", is_flag=True, help="Use defaults for unanswered questions; never prompt.")
@click.option("--trust", is_flag=True, help="Allow the template to run code (tasks, hooks, extensions).")
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="Where to create the service folder (default: here).",
)
@click.option("--no-git", is_flag=True, help="Do not make the service a git repository.")
def new(
    name: str,
    template: str,
    ref: str | None,
    data: tuple[str, ...],
    defaults: bool,
    trust: bool,
    output_dir: Path,
    no_git: bool,
) -> None:
    """Create the service NAME from a template."""
    from .answers import parse_assignments
    from .generate import NewRequest, new_service

    result = new_service(
        NewRequest(
            name=name,
            template=template,
            ref=ref,
            data=parse_assignments(data),
            interactive=_interactive(defaults),
            trust=trust,
            output_dir=output_dir,
            make_git=not no_git,
        )
    )
    click.echo(f"Created {result.path} from {result.layer.describe()} ({result.layer.format}).")
    if result.identity is not None:
        note = (
            ""
            if result.identity.configured
            else (" (no git identity is configured; set one with git config --global user.name/user.email)")
        )
        click.echo(
            f"Initial commit {result.commit[:12] if result.commit else ''} by {result.identity}{note}."
        )
    click.echo(f"Next: cd {result.path.name} and read its README.md.")


@main.group()
def templates() -> None:
    """Templates svc knows by name."""


@templates.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def templates_list(as_json: bool) -> None:
    """List the built-in and configured templates."""
    from .catalog import list_templates

    entries = list_templates()
    if as_json:
        _print_json([vars(e) for e in entries])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "source", "format", "newest version", "extends")
    for e in entries:
        table.add_row(e.name, e.source, e.format, e.newest_version or "-", e.extends or "-")
    # Off a terminal rich would wrap long sources at 80 columns; scripts want whole lines.
    (Console() if sys.stdout.isatty() else Console(width=200, no_color=True)).print(table)
    for e in entries:
        if e.problem:
            click.secho(f"{e.name}: {e.problem}", err=True, fg="yellow")


def _layer_doc(layer: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(layer).items() if v is not None}


@main.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=Path())
@click.option("--ref", help="Template version to move to (default: newest release).")
@_data_option
@click.option("--defaults", is_flag=True, help="Use defaults for new questions; never prompt.")
@click.option("--trust", is_flag=True, help="Allow the template to run code (tasks, migrations, hooks).")
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--commit", "commit", is_flag=True, help="Commit the update when it has no conflicts.")
@click.option("--abort", is_flag=True, help="Undo an unfinished update, byte for byte.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def update(
    path: Path,
    ref: str | None,
    data: tuple[str, ...],
    defaults: bool,
    trust: bool,
    dry_run: bool,
    commit: bool,
    abort: bool,
    as_json: bool,
) -> None:
    """Bring the service at PATH to a newer template, keeping every local change."""
    from . import update as updating
    from .answers import parse_assignments

    if abort:
        root = updating.abort(path)
        click.echo(f"Aborted the update of {root}; it is back where it was.")
        return
    result = updating.update(
        updating.UpdateRequest(
            path=path,
            ref=ref,
            data=parse_assignments(data),
            interactive=_interactive(defaults),
            trust=trust,
            dry_run=dry_run,
            commit=commit,
        )
    )
    if as_json:
        _print_json(
            {
                "path": str(result.path),
                "status": result.status,
                "from": _layer_doc(result.before),
                "to": _layer_doc(result.after),
                "changed": result.changed,
                "conflicts": result.conflicts,
                "binary_conflicts": result.binary_conflicts,
                "committed": result.committed,
                "migrations": result.migrations,
                "moved_layers": result.moved_layers,
                "dry_run": dry_run,
            }
        )
    else:
        _show_update(result, dry_run)
    sys.exit(EXIT_ACT if result.conflicts else EXIT_OK)


def _show_update(result: Any, dry_run: bool) -> None:
    if result.status == "current":
        click.echo(f"{result.path.name} is already on {result.after.describe()}; nothing to do.")
        return
    verb = "Would update" if dry_run else "Updated"
    click.echo(f"{verb} {result.path.name}: {result.before.describe()} -> {result.after.describe()}.")
    for move in result.moved_layers:
        click.echo(f"  base layer {move}")
    for rel in result.changed:
        mark = "C" if rel in result.conflicts else "M"
        click.echo(f"  {mark} {rel}")
    for command in result.migrations:
        click.echo(f"  {'would run' if dry_run else 'ran'} {command}")
    if dry_run:
        click.echo(result.diff, nl=False)
        return
    if result.conflicts:
        click.secho(f"{len(result.conflicts)} file(s) have conflicts:", err=True, fg="yellow")
        for rel in result.conflicts:
            kind = " (binary: your version kept)" if rel in result.binary_conflicts else ""
            click.echo(f"  {rel}{kind}", err=True)
        click.echo(
            "Resolve them (look for <<<<<<< markers), 'git add' them and 'git commit'; "
            "or undo with 'svc update --abort'.",
            err=True,
        )
    elif result.committed:
        click.echo(f"Committed {result.committed[:12]}.")
    else:
        click.echo("The result is staged; review it and run 'git commit' (or 'svc update --abort').")


@main.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def check(path: Path, as_json: bool) -> None:
    """Exit 1 when a template layer of the service at PATH is behind its newest version."""
    from .update import check as check_layers

    statuses = check_layers(path)
    if as_json:
        _print_json([vars(s) for s in statuses])
    else:
        for s in statuses:
            state = "behind" if s.behind else "current"
            click.echo(f"{s.source}: {s.current or '-'} (newest {s.newest or '-'}): {state}")
    sys.exit(EXIT_ACT if any(s.behind for s in statuses) else EXIT_OK)


@main.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=Path())
@click.option("--ref", help="Template version to compare with (default: newest release).")
def diff(path: Path, ref: str | None) -> None:
    """Print, as a unified diff, what 'svc update' would change; exit 1 when it would."""
    from .update import diff as update_diff

    result = update_diff(path, ref)
    click.echo(result.diff, nl=False)
    sys.exit(EXIT_ACT if result.diff else EXIT_OK)


# --- svc fleet -----------------------------------------------------------------------------


@main.group()
def fleet() -> None:
    """Check or update many services at once."""


_FLEET_PATHS = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
_FLEET_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


@fleet.command("status")
@_FLEET_PATHS
@_FLEET_JSON
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Services checked at once (default: CPUs).")
def fleet_status(paths: tuple[Path, ...], as_json: bool, jobs: int | None) -> None:
    """Show, for each service under PATHS, its template layers and whether it is behind.

    A PATH is a service, a folder whose direct children are services, or a file listing paths.
    """
    from . import fleet as fleet_lib

    members = fleet_lib.discover(paths)
    outcomes = _run_fleet(members, fleet_lib.status_job, jobs, as_json, "Checking")
    _finish_fleet(outcomes, as_json)


@fleet.command("update")
@_FLEET_PATHS
@click.option("--ref", help="Template version to move to (default: each template's newest release).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Services updated at once (default: CPUs).")
@click.option(
    "--branch",
    default="svc/update-{version}",
    show_default=True,
    help="Name of the new branch per service; {version} is replaced by the target version.",
)
@click.option("--push", is_flag=True, help="Push each new branch to the service's remote (origin).")
@_FLEET_JSON
def fleet_update(
    paths: tuple[Path, ...], ref: str | None, jobs: int | None, branch: str, push: bool, as_json: bool
) -> None:
    """Update every service under PATHS on a new branch, in a separate git worktree.

    The checked-out branch, work tree and index of each service are never touched. A service
    whose update conflicts is left as it was and listed for a hand update.
    """
    from . import fleet as fleet_lib

    members = fleet_lib.discover(paths)
    job = fleet_lib.update_job(fleet_lib.UpdateOptions(ref=ref, branch=branch, push=push))
    outcomes = _run_fleet(members, job, jobs, as_json, "Updating")
    _finish_fleet(outcomes, as_json)


_FLEET_COLOURS = {"current": "green", "updated": "green", "behind": "yellow", "conflicts": "yellow"}


def _fleet_line(outcome: Any) -> str:
    layers = ", ".join(f"{x.current or '-'} -> {x.newest or '-'}" for x in outcome.layers)
    extra = f" on {outcome.branch}" if outcome.branch and outcome.status == "updated" else ""
    pushed = " (pushed)" if outcome.pushed else ""
    files = f" [{', '.join(outcome.files)}]" if outcome.status == "conflicts" else ""
    reason = f": {outcome.reason}" if outcome.reason else ""
    return f"{outcome.name}: {outcome.status.replace('-', ' ')}{extra}{pushed}{reason}{files}" + (
        f" ({layers})" if layers else ""
    )


def _run_fleet(members: list[Path], job: Any, jobs: int | None, as_json: bool, verb: str) -> list[Any]:
    """Run the pool: a live progress bar on a terminal, plain result lines otherwise."""
    from . import fleet as fleet_lib

    if as_json:
        return fleet_lib.run(members, job, jobs)
    if not sys.stdout.isatty():
        return fleet_lib.run(members, job, jobs, lambda o: click.echo(_fleet_line(o)))
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console()
    columns = (TextColumn(f"{verb} services"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(verb, total=len(members))

        def done(outcome: Any) -> None:
            colour = _FLEET_COLOURS.get(outcome.status, "red")
            progress.console.print(_fleet_line(outcome), style=colour, markup=False, highlight=False)
            progress.advance(task)

        return fleet_lib.run(members, job, jobs, done)


def _finish_fleet(outcomes: list[Any], as_json: bool) -> None:
    from . import fleet as fleet_lib

    if as_json:
        _print_json(fleet_lib.to_json(outcomes))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("service", "template", "current", "newest", "state", "branch / files / why")
        for o in outcomes:
            detail = o.reason or ""
            if o.status == "updated":
                detail = f"{o.branch}{' (pushed)' if o.pushed else ''}"
            elif o.status == "conflicts":
                detail = f"update by hand: {', '.join(o.files)}"
            table.add_row(
                o.name,
                "\n".join(x.source for x in o.layers) or "-",
                "\n".join(x.current or "-" for x in o.layers) or "-",
                "\n".join(x.newest or "-" for x in o.layers) or "-",
                o.status.replace("-", " "),
                detail,
            )
        console = Console() if sys.stdout.isatty() else Console(width=200, no_color=True)
        console.print(table)
        summary = fleet_lib.summary(outcomes).items()
        counts = ", ".join(f"{n} {status.replace('-', ' ')}" for status, n in summary)
        click.echo(f"{len(outcomes)} folder(s): {counts}.")
    sys.exit(EXIT_OK if all(o.clean for o in outcomes) else EXIT_ACT)


# --- svc template --------------------------------------------------------------------------


@main.group()
def template() -> None:
    """Write and test company templates (layered on another template or not)."""


@template.command("init")
@click.argument("name")
@click.option("--extends", metavar="SRC", help="Template to layer on, pinned at its newest version.")
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="Where to create the template's folder (default: here).",
)
def template_init(name: str, extends: str | None, output_dir: Path) -> None:
    """Create the company template NAME as a git repository, ready to customise."""
    from .authoring import init_template

    result = init_template(name, extends, output_dir)
    on = f", extending {result.base.describe()}" if result.base else ""
    click.echo(f"Created the template {result.path}{on}; committed and tagged {result.version}.")
    click.echo(f"Next: read {result.path / 'README.md'}, then run 'svc template test {result.path}'.")


@template.command("test")
@click.argument("src")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def template_test(src: str, as_json: bool) -> None:
    """Render SRC with its sample answers and run the generated project's own tests."""
    from .authoring import test_template

    result = test_template(src)
    if as_json:
        _print_json(
            {
                "passed": result.passed,
                "command": result.command,
                "returncode": result.returncode,
                "layers": [_layer_doc(layer) for layer in result.layers],
                "output": result.output,
            }
        )
    elif result.passed:
        click.echo(f"PASS: '{result.command}' passed in a project made from {result.layers[-1].describe()}.")
    else:
        click.echo(result.output, err=True)
        click.secho(
            f"FAIL: '{result.command}' failed (exit code {result.returncode}) in a project made from "
            f"{result.layers[-1].describe()}; its output is above.",
            err=True,
            fg="red",
        )
    sys.exit(EXIT_OK if result.passed else EXIT_ACT)


# --- svc radar -----------------------------------------------------------------------------


@main.group()
def radar() -> None:
    """API testing and monitoring: check every instance in a realm."""


def _radar_options(func: F) -> F:
    options = [
        click.argument("paths", nargs=-1, type=click.Path(file_okay=False, path_type=Path)),
        click.option("--realm", default="dev", show_default=True, help="Realm whose instances to check."),
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
    from .radar import RadarRequest

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
    from .radar import report_to_json, run_radar

    report = run_radar(_radar_request(paths, realm, registry_url, timeout_s, latency_budget_ms))
    if junit is not None:
        from .radar_export import write_junit

        write_junit(report, junit)
    if as_json:
        _print_json(report_to_json(report))
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

    from .radar import RadarReport, WatchState, parse_duration, report_to_json, round_line, watch_radar
    from .radar_export import RadarExporter

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
            click.echo(json.dumps(report_to_json(outcome), default=str) if as_json else round_line(outcome))
        else:
            click.echo(f"registry unreachable: {outcome}", err=True)

    try:
        watch_radar(request, every_s, on_round, state)
    except KeyboardInterrupt:
        click.echo(f"Stopped after {state.rounds} round(s).", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        exporter.close()
    click.echo(f"Stopped after {state.rounds} round(s).", err=True)


@main.group()
def registry() -> None:
    """Look at the service registry the generated services use."""


@registry.command("ls")
@click.option("--realm", default="dev", show_default=True, help="The realm to list.")
@click.option(
    "--registry",
    "registry_url",
    metavar="URL",
    help="sqlite:///PATH or etcd://HOST:PORT[,...] (default: SVC_REGISTRY_URL, else the local file).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def registry_ls(realm: str, registry_url: str | None, as_json: bool) -> None:
    """List the live instances in a realm."""
    from dataclasses import asdict

    from .registry_view import default_registry_url, list_instances

    records = list_instances(registry_url or default_registry_url(), realm)
    if as_json:
        _print_json([asdict(r) for r in records])
        return
    if not records:
        click.echo(f"No live instances in realm '{realm}'.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("service", "instance", "address", "port", "version", "age", title=f"realm {realm}")
    for r in records:
        table.add_row(r.service, r.instance, r.address, str(r.port), r.version, _age(r.age_seconds))
    Console().print(table)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
