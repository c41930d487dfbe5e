"""`svc templates list` and `svc template init/test`: the templates svc knows and writes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import EXIT_ACT, EXIT_OK, json_option, layer_doc, main, output_dir_option, print_json, trust_option


@main.group()
def templates() -> None:
    """Templates svc knows by name."""


@templates.command("list")
@json_option
def templates_list(as_json: bool) -> None:
    """List the built-in and configured templates."""
    from ..named_templates import list_templates

    entries = list_templates()
    if as_json:
        print_json([vars(e) for e in entries])
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


# --- svc template --------------------------------------------------------------------------


@main.group()
def template() -> None:
    """Write and test company templates (layered on another template or not)."""


@template.command("init")
@click.argument("name")
@click.option("--extends", metavar="SRC", help="Template to layer on, pinned at its newest version.")
@output_dir_option("the template's folder")
def template_init(name: str, extends: str | None, output_dir: Path) -> None:
    """Create the company template NAME as a git repository, ready to customise."""
    from ..authoring import init_template

    result = init_template(name, extends, output_dir)
    on = f", extending {result.base.describe()}" if result.base else ""
    click.echo(f"Created the template {result.path}{on}; committed and tagged {result.version}.")
    click.echo(f"Next: read {result.path / 'README.md'}, then run 'svc template test {result.path}'.")


@template.command("test")
@click.argument("src")
@trust_option
@json_option
def template_test(src: str, trust: bool, as_json: bool) -> None:
    """Render SRC with its sample answers and run the generated project's own tests."""
    from ..authoring import test_template

    result = test_template(src, trust=trust)
    if as_json:
        print_json(
            {
                "passed": result.passed,
                "command": result.command,
                "returncode": result.returncode,
                "layers": [layer_doc(layer) for layer in result.layers],
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
