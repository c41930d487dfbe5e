"""The `svc` command line: parse, call one library function, show its result, pick the exit code.

This package is the only part of svc that talks to the terminal: one module per command
family, and this one holds the root group, the error boundary and what the commands share.
Heavy libraries (copier, cookiecutter, jinja2, rich) are imported inside the commands that
need them, so `svc --help` stays fast.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click

from .. import __version__

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_ACT, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class SvcGroup(click.Group):
    """A group whose commands share one error boundary: clean messages, exit 2, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from ..errors import ScaffoldError, Terminated

        # Signal handlers belong to the main thread; a command run in another (tests) skips this.
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
        shown, warnings.showwarning = warnings.showwarning, _show_warning
        try:
            return super().invoke(ctx)
        except ScaffoldError as err:
            _fail(str(err), ctx)
        except KeyboardInterrupt as err:
            what = "Terminated" if isinstance(err, Terminated) else "Interrupted"
            click.echo(f"{what}; nothing was left half-done.", err=True)
            ctx.exit(EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as err:  # the boundary: anything unexpected is still one clean line
            if ctx.find_root().params.get("debug"):
                raise
            _fail(
                f"svc failed unexpectedly: {type(err).__name__}: {err} (run with --debug for details).",
                ctx,
            )
        finally:
            warnings.showwarning = shown
            if main_thread:
                signal.signal(signal.SIGTERM, previous)


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, *_: Any, **__: Any
) -> None:
    """An engine's warning (copier's OldTemplateWarning, say) as one line, not a source dump."""
    text = str(message).strip().splitlines()
    click.echo(f"warning: {text[0] if text else category.__name__}", err=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    from ..errors import Terminated

    raise Terminated


def _fail(message: str, ctx: click.Context) -> NoReturn:
    click.secho(f"error: {message}", err=True, fg="red")
    ctx.exit(EXIT_ERROR)


@click.group(cls=SvcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="svc")
@click.option("--debug", is_flag=True, help="Show a traceback when something unexpected fails.")
def main(debug: bool) -> None:
    """Generate services from a golden-path template and keep them up to date."""


def data_option(func: F) -> F:
    return click.option(
        "-d",
        "--data",
        "data",
        multiple=True,
        metavar="KEY=VALUE",
        help="Answer a template question (repeatable).",
    )(func)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
defaults_option = click.option(
    "--defaults", is_flag=True, help="Use defaults for unanswered questions; never prompt."
)
trust_option = click.option(
    "--trust", is_flag=True, help="Allow the template to run code (tasks, migrations, hooks, extensions)."
)


def output_dir_option(what: str) -> Callable[[F], F]:
    """`--output-dir/-o`: the folder in which `what` is created (default: here)."""
    return click.option(
        "--output-dir",
        "-o",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(),
        help=f"Where to create {what} (default: here).",
    )


def interactive(defaults: bool) -> bool:
    return not defaults and sys.stdin.isatty()


def print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))


def layer_doc(layer: Any) -> dict[str, Any]:
    from ..provenance import layer_doc as recorded

    return recorded(layer)


# The command families register themselves on `main` when imported.
from . import client, fleet, radar, registry, service, templates  # noqa: E402, F401

__all__ = ["main"]

# Kept apart from the line above, so that command families added on other branches merge cleanly.
from . import traffic  # noqa: E402, F401
