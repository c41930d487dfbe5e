"""`svc traffic PATH [--follow]`: the calls a service's smart client recorded (`SVC_TRAFFIC_LOG`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from . import json_option, main, print_json


@main.command("traffic")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--follow", "-f", is_flag=True, help="Keep printing new exchanges as they are recorded.")
@json_option
def traffic(path: Path, follow: bool, as_json: bool) -> None:
    """Print the traffic log a service wrote (HAR 1.2) as a table.

    With --follow, wait for new exchanges and print them as they come (Ctrl-C stops);
    with --json and --follow, one JSON object per exchange and line.
    """
    from ..traffic import follow as follow_log
    from ..traffic import read_exchanges

    if not follow:
        exchanges = read_exchanges(path)
        if as_json:
            print_json([asdict(exchange) for exchange in exchanges])
        elif not exchanges:
            click.echo(f"No exchanges recorded in {path} yet.")
        else:
            _print_table(exchanges, header=True)
        return
    first = True
    for batch in follow_log(path):
        if as_json:
            for exchange in batch:
                click.echo(json.dumps(asdict(exchange)))
        else:
            _print_table(batch, header=first)
        first = False


_COLUMNS = ("started", "method", "url", "status", "ms", "instance", "retries")


def _print_table(exchanges: list[Any], *, header: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=header, box=None, pad_edge=False)
    for column in _COLUMNS:
        # A URL that does not fit wraps in its cell rather than losing its end (the path).
        table.add_column(column, overflow="fold" if column == "url" else "ellipsis")
    for exchange in exchanges:
        status = exchange.error or str(exchange.status)
        style = "red" if exchange.error or exchange.status >= 500 else None
        instance = (exchange.instance or "-").rsplit("/", 1)[-1]
        table.add_row(
            exchange.started.partition("T")[2].removesuffix("Z") or exchange.started,
            exchange.method,
            exchange.url,
            f"[{style}]{status}[/]" if style else status,
            f"{exchange.time_ms:.1f}",
            instance,
            str(exchange.retries),
        )
    Console().print(table)
