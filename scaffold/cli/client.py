"""`svc client add/update/check`: typed clients of other services, written into this one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import EXIT_ACT, EXIT_OK, json_option, main, print_json

F = TypeVar("F", bound=Callable[..., Any])


def _where_options(func: F) -> F:
    """--from, --realm, --registry: where NAME's OpenAPI document is read."""
    for option in reversed(
        (
            click.option(
                "--from",
                "source",
                metavar="SOURCE",
                help="Read NAME's API from a file, a URL or a checkout of NAME (default: a live instance).",
            ),
            click.option(
                "--realm",
                envvar="SVC_REALM",
                default="dev",
                help="The realm whose instances are asked (default: SVC_REALM, else dev).",
            ),
            click.option(
                "--registry",
                "registry_url",
                metavar="URL",
                help="sqlite:///PATH or etcd://HOST:PORT[,...] (default: SVC_REGISTRY_URL, else local).",
            ),
        )
    ):
        func = option(func)
    return func


def _where(source: str | None, realm: str, registry_url: str | None, trust: bool = False) -> Any:
    from ..clients import Where
    from ..registry import default_registry_url

    return Where(source, realm, registry_url or default_registry_url(), trust)


trust_code_option = click.option(
    "--trust", is_flag=True, help="Allow importing a checkout's code (--from CHECKOUT) to read its API."
)


@main.group()
def client() -> None:
    """Typed clients of other services, written into this service."""


@client.command("add")
@click.argument("name")
@_where_options
@trust_code_option
def client_add(name: str, source: str | None, realm: str, registry_url: str | None, trust: bool) -> None:
    """Write a typed client of service NAME into this service."""
    from ..clients import add_client

    _show(add_client(Path(), name, _where(source, realm, registry_url, trust)), "Added")


@client.command("update")
@click.argument("name")
@_where_options
@trust_code_option
def client_update(name: str, source: str | None, realm: str, registry_url: str | None, trust: bool) -> None:
    """Write the client of service NAME again, from its API as it is now."""
    from ..clients import update_client

    _show(update_client(Path(), name, _where(source, realm, registry_url, trust)), "Updated")


@client.command("check")
@click.argument("name", required=False)
@_where_options
@trust_code_option
@json_option
@click.pass_context
def client_check(
    ctx: click.Context,
    name: str | None,
    source: str | None,
    realm: str,
    registry_url: str | None,
    trust: bool,
    as_json: bool,
) -> None:
    """Say whether NAME's API (every client's, without NAME) changed, and whether that breaks it."""
    from dataclasses import asdict

    from ..clients import check_clients

    reports = check_clients(Path(), name, _where(source, realm, registry_url, trust))
    if as_json:
        print_json(
            [
                {**asdict(r), "changed": r.comparison.changed, "breaking": r.comparison.breaking}
                for r in reports
            ]
        )
    else:
        for report in reports:
            _show_check(report)
    ctx.exit(EXIT_ACT if any(r.comparison.changed for r in reports) else EXIT_OK)


def _show(written: Any, verb: str) -> None:
    functions = ", ".join(written.functions) or "none"
    click.echo(f"{verb} the client of {written.service} from {written.origin}: {written.module}")
    click.echo(f"  functions: {functions} (each with an _async twin)")


def _show_check(report: Any) -> None:
    comparison = report.comparison
    if not comparison.changed:
        click.echo(f"{report.service}: unchanged ({report.origin}).")
        return
    verdict = "breaks this client" if comparison.breaking else "does not break this client"
    click.echo(f"{report.service}: the API changed and {verdict} ({report.origin}):")
    for change in comparison.changes:
        mark = "BREAKING" if change.breaking else "ok"
        where = f"{change.operation}: " if change.operation else ""
        click.echo(f"  {mark:8} {where}{change.what}")
    if comparison.breaking:
        click.echo(f"  Update the calls, then `svc client update {report.service}`.")
    else:
        click.echo(f"  `svc client update {report.service}` brings the client up to date.")
