"""Configuration: the templates a user or a company names, read from TOML files.

Two files may name templates (docs/company-templates.md shows them):

- the user's, `$XDG_CONFIG_HOME/svc/config.toml` (default `~/.config/svc/config.toml`);
- the company's: the file `SVC_CONFIG` names, else the nearest `svc.toml` in the current
  folder or one of its parents (checked into a monorepo or a team's workspace).

Where both name a template, the company's wins, so a team cannot silently retarget the
golden path by a stray user file. Each entry is

    [templates.acme-service]
    source = "https://git.example.com/platform/acme-service.git"   # or a path, or builtin:NAME
    ref = "v1.2.0"                                                  # optional default --ref

A relative `source` path is read from the configuration file's own folder.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

USER_FILE = Path("svc") / "config.toml"
COMPANY_FILE = "svc.toml"
ENV_VAR = "SVC_CONFIG"
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)
_TOML_WHERE = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class NamedTemplate:
    """One configured template: a name for a source, and the ref to use when none is given."""

    name: str
    source: str
    ref: str | None
    # The file that named it, for messages and for `svc templates list`.
    origin: Path


@dataclass(frozen=True)
class Config:
    templates: Mapping[str, NamedTemplate] = field(default_factory=dict)

    def template(self, name: str) -> NamedTemplate | None:
        return self.templates.get(name)


def user_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / USER_FILE


def company_file(cwd: Path | None = None) -> Path | None:
    """The file SVC_CONFIG names (it must exist), else the nearest svc.toml upwards."""
    named = os.environ.get(ENV_VAR)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{ENV_VAR} names {path}, which is not a file; fix or unset {ENV_VAR}.")
        return path.resolve()
    folder = (cwd or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / COMPANY_FILE).is_file():
            return candidate / COMPANY_FILE
    return None


def load(cwd: Path | None = None) -> Config:
    """The templates named by the user's file and the company's; the company's win."""
    found: dict[str, NamedTemplate] = {}
    for path in (user_file(), company_file(cwd)):
        if path is not None and path.is_file():
            found.update(read_file(path).templates)
    return Config(found)


def read_file(path: Path) -> Config:
    """Parse one configuration file; raise ConfigError naming the file (and line) when it is wrong."""
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(_syntax_message(path, err)) from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"Cannot read the configuration file {path} ({err}).") from err
    table = doc.get("templates", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'templates' must be a table, e.g. [templates.acme-service].")
    return Config({name: _entry(path, name, spec) for name, spec in table.items()})


def _syntax_message(path: Path, err: tomllib.TOMLDecodeError) -> str:
    text = str(err)
    where = _TOML_WHERE.search(text)
    reason = _TOML_WHERE.sub("", text).strip().rstrip(".").lower()
    if where:
        return f"{path} line {where.group(1)} is not valid TOML ({reason}); fix that line."
    return f"{path} is not valid TOML ({reason}); fix it."


def _entry(path: Path, name: str, spec: Any) -> NamedTemplate:
    if not isinstance(spec, dict) or not isinstance(spec.get("source"), str) or not spec["source"]:
        raise ConfigError(f'{path}: [templates.{name}] needs source = "a path, git URL or builtin:NAME".')
    ref = spec.get("ref")
    if ref is not None and not isinstance(ref, str):
        raise ConfigError(f'{path}: [templates.{name}] ref must be a string, e.g. ref = "v1.2.0".')
    unknown = sorted(set(spec) - {"source", "ref", "description"})
    if unknown:
        raise ConfigError(
            f"{path}: [templates.{name}] has unknown keys {', '.join(unknown)}; use source and ref."
        )
    return NamedTemplate(name, _absolute(spec["source"], path.parent), ref, path)


def _absolute(source: str, folder: Path) -> str:
    """A relative path means the config file's folder, wherever svc runs from."""
    if source.startswith("builtin:") or _URL.match(source):
        return source
    path = Path(source).expanduser()
    return str(path if path.is_absolute() else (folder / path).resolve())
