"""Template migrations: commands a template asks to run when a service crosses a version.

A format's engine says which migrations a move between two versions needs (copier's
`_migrations`, see `render/copier_engine`); this module describes them, refuses them
without `--trust`, and runs them in the service's folder after the merge.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import processes
from .errors import TemplateError, UnsafeTemplateError

_FALSE = {"", "0", "false", "n", "no", "off", "none", "null", "~"}


@dataclass(frozen=True)
class Migration:
    """One command to run, rendered, with the variables copier would give it."""

    command: str | tuple[str, ...]
    working_directory: str
    variables: dict[str, str]

    def describe(self) -> str:
        shown = self.command if isinstance(self.command, str) else " ".join(self.command)
        return f"{shown} (migration to {self.variables.get('_version_current', '?')})"


def refuse_untrusted(migrations: list[Migration]) -> None:
    listed = "; ".join(m.describe() for m in migrations)
    raise UnsafeTemplateError(
        f"The update would run the template's migrations: {listed}; read them, then pass "
        "--trust if you trust them."
    )


def run(root: Path, migrations: list[Migration]) -> None:
    """Run each migration in the service's folder; stop at the first that fails."""
    for migration in migrations:
        env = {k[1:].upper(): v for k, v in migration.variables.items()}
        cwd = (root / migration.working_directory).resolve()
        if not cwd.is_relative_to(root):
            raise TemplateError(
                f"The migration {migration.describe()} would run outside the "
                "service's folder; svc refuses it."
            )
        proc = subprocess.Popen(
            migration.command, shell=isinstance(migration.command, str), cwd=cwd, env={**os.environ, **env}
        )
        try:
            code = proc.wait()
        except BaseException:
            # Ctrl-C or SIGTERM: nothing the migration started may go on writing after the rollback.
            processes.kill_tree(proc.pid)
            proc.wait()
            raise
        if code != 0:
            raise TemplateError(
                f"The migration {migration.describe()} failed with exit code {code}; the update was undone."
            )


def render_text(text: str, context: Mapping[str, Any]) -> str:
    """Render a migration's Jinja (its command, folder or condition) in jinja's sandbox."""
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment().from_string(text).render(context)


def true_in(condition: Any, context: Mapping[str, Any]) -> bool:
    """A `when` condition, rendered, as copier reads it."""
    if isinstance(condition, bool):
        return condition
    return render_text(str(condition), context).strip().lower() not in _FALSE
