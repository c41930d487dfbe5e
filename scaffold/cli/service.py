"""`svc new`, `svc update`, `svc check`, `svc diff`: one service and its template."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from . import (
    EXIT_ACT,
    EXIT_OK,
    data_option,
    defaults_option,
    interactive,
    json_option,
    layer_doc,
    main,
    output_dir_option,
    print_json,
    trust_option,
)


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
@click.option(
    "--directory", metavar="PATH", help="The folder of the template's repository that holds the template."
)
@data_option
@defaults_option
@trust_option
@output_dir_option("the service folder")
@click.option("--no-git", is_flag=True, help="Do not make the service a git repository.")
def new(
    name: str,
    template: str,
    ref: str | None,
    directory: str | None,
    data: tuple[str, ...],
    defaults: bool,
    trust: bool,
    output_dir: Path,
    no_git: bool,
) -> None:
    """Create the service NAME from a template."""
    from ..answers import parse_assignments
    from ..generate import NewRequest, new_service

    result = new_service(
        NewRequest(
            name=name,
            template=template,
            ref=ref,
            data=parse_assignments(data),
            interactive=interactive(defaults),
            trust=trust,
            output_dir=output_dir,
            make_git=not no_git,
            directory=directory,
        )
    )
    click.echo(f"Created {result.path} from {result.layer.describe()} ({result.layer.format}).")
    if result.commit is not None:
        click.echo(f"Initial commit {result.commit[:12]}: the template's render, also on svc/template.")
    if result.identity is not None and not result.identity.configured:
        click.echo("No git identity is configured; set one with git config --global user.name/user.email.")
    if result.enclosing_repository is not None:
        click.echo(
            f"Note: {result.path.name} is a git repository of its own inside the one at "
            f"{result.enclosing_repository}, which does not track its files."
        )
    where = _shown_path(result.path)
    readme = " and read its README.md" if (result.path / "README.md").is_file() else ""
    click.echo(f"Next: cd {where}{readme}.")


def _shown_path(path: Path) -> str:
    """`path` as the user would type it from here: relative when below the current folder."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@main.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=Path())
@click.option("--ref", help="Template version to move to (default: newest release).")
@data_option
@defaults_option
@trust_option
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--commit", "commit", is_flag=True, help="Commit the update when it has no conflicts.")
@click.option("--abort", is_flag=True, help="Undo an unfinished update, byte for byte.")
@click.option(
    "--answers-file",
    metavar="PATH",
    help="A project made by plain copier: its answers file, where not at .copier-answers.yml.",
)
@json_option
def update(
    path: Path,
    ref: str | None,
    data: tuple[str, ...],
    defaults: bool,
    trust: bool,
    dry_run: bool,
    commit: bool,
    abort: bool,
    answers_file: str | None,
    as_json: bool,
) -> None:
    """Bring the service at PATH to a newer template, keeping every local change."""
    from .. import update as updating
    from ..answers import parse_assignments

    if abort:
        root = updating.abort(path)
        click.echo(f"Aborted the update of {root}; it is back where it was.")
        return
    result = updating.update(
        updating.UpdateRequest(
            path=path,
            ref=ref,
            data=parse_assignments(data),
            interactive=interactive(defaults),
            trust=trust,
            dry_run=dry_run,
            commit=commit,
            answers_file=answers_file,
        )
    )
    if as_json:
        print_json(
            {
                "path": str(result.path),
                "status": result.status,
                "from": layer_doc(result.before),
                "to": layer_doc(result.after),
                "changed": result.changed,
                "conflicts": result.conflicts,
                "binary_conflicts": result.binary_conflicts,
                "files": [vars(change) for change in result.files],
                "committed": result.committed,
                "migrations": result.migrations,
                "moved_layers": result.moved_layers,
                "downgrade": result.downgrade,
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
    moved = f"{result.path.name}: {result.before.describe()} -> {result.after.describe()}"
    if result.downgrade:
        older, newer = result.after.version, result.before.version
        click.echo(f"Note: {older} is older than {newer}; this moves the service back.")
    if result.conflicts:
        count = len(result.conflicts)
        would = "would have " if dry_run else ""
        click.echo(f"{moved}: {would}{count} conflict{'s' if count > 1 else ''} to resolve.")
    else:
        click.echo(f"{'Would update' if dry_run else 'Updated'} {moved}.")
    for move in result.moved_layers:
        click.echo(f"  base layer {move}")
    for change in result.files:
        mark = "C" if change.path in result.conflicts else change.status
        shown = f"{change.old_path} -> {change.path}" if change.old_path else change.path
        click.echo(f"  {mark} {shown}")
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
            "Resolve them (edit the <<<<<<< blocks; a file deleted on one side: 'git rm' or "
            "'git add' it), then 'git add' them and 'git commit'; or undo with 'svc update --abort'.",
            err=True,
        )
    elif result.committed:
        click.echo(f"Committed {result.committed[:12]}.")
    else:
        click.echo("The result is staged; review it and run 'git commit' (or 'svc update --abort').")


@main.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=Path())
@json_option
def check(path: Path, as_json: bool) -> None:
    """Exit 1 when a template layer of the service at PATH is behind its newest version."""
    from ..update import check as check_layers
    from ..update import in_progress

    statuses = check_layers(path)
    pending = in_progress(path)
    if as_json:
        print_json([vars(s) for s in statuses])
    else:
        for s in statuses:
            state = "behind" if s.behind else "update in progress" if pending else "current"
            click.echo(f"{s.source}: {s.current or '-'} (newest {s.newest or '-'}): {state}")
    if pending:
        click.echo(
            f"An update of {path.resolve().name} is in progress: finish it with 'git commit' or "
            "undo it with 'svc update --abort'.",
            err=True,
        )
    sys.exit(EXIT_ACT if pending or any(s.behind for s in statuses) else EXIT_OK)


@main.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=Path())
@click.option("--ref", help="Template version to compare with (default: newest release).")
@data_option
@defaults_option
@trust_option
def diff(path: Path, ref: str | None, data: tuple[str, ...], defaults: bool, trust: bool) -> None:
    """Print, as a unified diff, what 'svc update' would change; exit 1 when it would."""
    from .. import update as updating
    from ..answers import parse_assignments

    request = updating.UpdateRequest(
        path=path, ref=ref, data=parse_assignments(data), interactive=interactive(defaults), trust=trust
    )
    result = updating.diff(request)
    click.echo(result.diff, nl=False)
    # A conflict can leave no line in the diff (a file the template deletes and the team
    # edited stays as it is until resolved): name each on stderr, so the diff stays a patch.
    for rel in result.conflicts:
        click.echo(f"conflict: {rel} (both the template and this service changed it)", err=True)
    sys.exit(EXIT_ACT if result.diff or result.files else EXIT_OK)
