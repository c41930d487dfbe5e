"""`svc registry ls`: who is live in a realm."""

from __future__ import annotations

import click

from . import json_option, main, print_json


@main.group()
def registry() -> None:
    """Look at the service registry the generated services use."""


@registry.command("ls")
@click.option(
    "--realm",
    envvar="SVC_REALM",
    default="dev",
    help="The realm to list (default: SVC_REALM, else dev).",
)
@click.option(
    "--registry",
    "registry_url",
    metavar="URL",
    help="sqlite:///PATH or etcd://HOST:PORT[,...] (default: SVC_REGISTRY_URL, else the local file).",
)
@json_option
def registry_ls(realm: str, registry_url: str | None, as_json: bool) -> None:
    """List the live instances in a realm."""
    from dataclasses import asdict

    from ..registry import default_registry_url, list_instances

    records = list_instances(registry_url or default_registry_url(), realm)
    if as_json:
        print_json([asdict(r) for r in records])
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
