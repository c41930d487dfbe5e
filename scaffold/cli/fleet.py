"""`svc fleet status/update`: many services at once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import EXIT_ACT, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, json_option, main, print_json

if TYPE_CHECKING:
    from .. import fleet as fleet_lib

# --- svc fleet -----------------------------------------------------------------------------


@main.group()
def fleet() -> None:
    """Check or update many services at once."""


_FLEET_PATHS = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))


@fleet.command("status")
@_FLEET_PATHS
@json_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Services checked at once (default: CPUs).")
def fleet_status(paths: tuple[Path, ...], as_json: bool, jobs: int | None) -> None:
    """Show, for each service under PATHS, its template layers and whether it is behind.

    A PATH is a service, a folder whose direct children are services, or a file listing paths.
    """
    from .. import fleet as fleet_lib

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
@json_option
def fleet_update(
    paths: tuple[Path, ...], ref: str | None, jobs: int | None, branch: str, push: bool, as_json: bool
) -> None:
    """Update every service under PATHS on a new branch, in a separate git worktree.

    The checked-out branch, work tree and index of each service are never touched. A service
    whose update conflicts is left as it was and listed for a hand update.
    """
    from .. import fleet as fleet_lib

    members = fleet_lib.discover(paths)
    job = fleet_lib.update_job(fleet_lib.UpdateOptions(ref=ref, branch=branch, push=push))
    outcomes = _run_fleet(members, job, jobs, as_json, "Updating", ref)
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


def _run_fleet(
    members: list[Path], job: Any, jobs: int | None, as_json: bool, verb: str, ref: str | None = None
) -> list[Any]:
    """Run the pool; interrupted, still show what became of every service, then exit 130/143."""
    from .. import fleet as fleet_lib

    try:
        return _run_pool(members, job, jobs, as_json, verb, ref)
    except fleet_lib.FleetInterrupted as stopped:
        what = "Terminated" if stopped.terminated else "Interrupted"
        click.echo(f"{what}: no further service was started; those in hand finished.", err=True)
        _finish_fleet(stopped.outcomes, as_json, EXIT_TERMINATED if stopped.terminated else EXIT_INTERRUPTED)


def _run_pool(
    members: list[Path], job: Any, jobs: int | None, as_json: bool, verb: str, ref: str | None
) -> list[Any]:
    """Run the pool: a live progress bar on a terminal, plain result lines otherwise."""
    from .. import fleet as fleet_lib

    if as_json:
        return fleet_lib.run(members, job, jobs, ref=ref)
    if not sys.stdout.isatty():
        return fleet_lib.run(members, job, jobs, lambda o: click.echo(_fleet_line(o)), ref)
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

        return fleet_lib.run(members, job, jobs, done, ref)


def _finish_fleet(outcomes: list[Any], as_json: bool, exit_code: int | None = None) -> NoReturn:
    from .. import fleet as fleet_lib

    if as_json:
        print_json(_fleet_doc(outcomes))
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
    if exit_code is None:
        exit_code = EXIT_OK if all(o.clean for o in outcomes) else EXIT_ACT
    sys.exit(exit_code)


def _fleet_doc(outcomes: list[fleet_lib.ServiceOutcome]) -> dict[str, object]:
    """One document for `--json`: every service's outcome, and counts per status."""
    from .. import fleet as fleet_lib

    services = [
        {
            "path": str(o.path),
            "service": o.name,
            "status": o.status,
            "reason": o.reason,
            "layers": [vars(layer) for layer in o.layers],
            "branch": o.branch,
            "commit": o.commit,
            "files": list(o.files),
            "pushed": o.pushed,
        }
        for o in outcomes
    ]
    return {
        "ok": all(o.clean for o in outcomes),
        "summary": fleet_lib.summary(outcomes),
        "services": services,
    }
