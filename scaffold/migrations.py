"""A copier template's `_migrations`, run by `svc update` in the service's folder.

svc renders through copier's `run_copy`, which never runs migrations, so svc honours them
itself, the way copier's own update does: a migration runs when the old version is below
its `version` and the new one at or above it (PEP 440), in the order the template lists
them, with copier's variables (`_stage`, `_version_from`, ...) in its Jinja and
environment (`STAGE`, `VERSION_FROM`, ...). Migrations run code, so only with `--trust`.

svc's update is one merge, so there is one moment to run them: after the merge, copier's
"after" stage (its default); one whose `when` holds in both stages runs once, there. A
migration meant only for the "before" stage cannot be honoured; svc refuses the update
and says so rather than skip it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import TemplateError, UnsafeTemplateError
from .provenance import Layer

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


class _Loader(yaml.SafeLoader):
    """copier.yml may hold copier's own tags (`!include`); they do not matter here."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def load_config(template_dir: Path) -> dict[str, Any]:
    for name in ("copier.yml", "copier.yaml"):
        path = template_dir / name
        if path.is_file():
            config: dict[str, Any] = {}
            for doc in yaml.load_all(path.read_text(), Loader=_Loader):
                if isinstance(doc, dict):
                    config.update(doc)
            return config
    return {}


def pending(config: dict[str, Any], before: Layer, after: Layer, context: dict[str, Any]) -> list[Migration]:
    """The migrations a move from layer `before` to `after` must run, rendered."""
    from packaging.version import InvalidVersion, Version

    old, new = before.version, after.version
    entries = config.get("_migrations") or []
    if not entries:
        return []
    try:
        start, end = Version(old or ""), Version(new or "")
    except InvalidVersion:
        return []  # copier, too, runs migrations only between two release versions
    found: list[Migration] = []
    for entry in entries:
        spec = entry if isinstance(entry, dict) else {"command": entry}
        if "before" in spec or "after" in spec:
            raise TemplateError(
                "The template uses copier's old _migrations format (before/after "
                "lists), which svc does not run; update it with 'copier update'."
            )
        variables = _variables(before, after, spec.get("version"))
        if "version" in spec and not start < Version(str(spec["version"])) <= end:
            continue
        ctx = {**context, **variables, "_copier_operation": "update"}
        condition = spec.get("when", '{{ _stage == "after" }}')
        runs_after = _true(condition, {**ctx, "_stage": "after"})
        if not runs_after and _true(condition, {**ctx, "_stage": "before"}):
            raise TemplateError(
                f"The template has a migration for copier's 'before' stage ({spec['command']}); "
                "svc runs migrations only after its merge, so update this project once with "
                "'copier update'."
            )
        if not runs_after:
            continue
        stage = {**ctx, "_stage": "after"}
        found.append(
            Migration(
                _render_command(spec["command"], stage),
                _render(str(spec.get("working_directory", ".")), stage),
                {**{k: str(v) for k, v in variables.items()}, "_stage": "after"},
            )
        )
    return found


def _variables(before: Layer, after: Layer, current: Any) -> dict[str, Any]:
    # As copier: the refs (tags, as git describes them) and their PEP 440 versions.
    found = {
        "_version_from": before.ref or before.version,
        "_version_to": after.ref or after.version,
        "_version_pep440_from": before.version,
        "_version_pep440_to": after.version,
    }
    if current is not None:
        found |= {"_version_current": str(current), "_version_pep440_current": str(current)}
    return found


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
        done = subprocess.run(
            migration.command,
            shell=isinstance(migration.command, str),
            cwd=cwd,
            env={**os.environ, **env},
            check=False,
        )
        if done.returncode != 0:
            raise TemplateError(
                f"The migration {migration.describe()} failed with exit code "
                f"{done.returncode}; the update was undone."
            )


def _render(text: str, context: dict[str, Any]) -> str:
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment().from_string(text).render(context)


def _render_command(command: Any, context: dict[str, Any]) -> str | tuple[str, ...]:
    if isinstance(command, list):
        return tuple(_render(str(part), context) for part in command)
    return _render(str(command), context)


def _true(condition: Any, context: dict[str, Any]) -> bool:
    if isinstance(condition, bool):
        return condition
    return _render(str(condition), context).strip().lower() not in _FALSE
