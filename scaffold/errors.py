"""Errors that svc reports to the user.

Every error is one or two sentences that say what went wrong and how to mend it.
The CLI prints the message on stderr and exits 2; nothing on disk has changed.

    ScaffoldError
    ├── InputError            bad input on the command line (a name, a -d value)
    ├── SourceError           a template source or ref that cannot be found or fetched
    ├── ConfigError           a configuration file (config.toml, svc.toml) that cannot be read
    ├── TemplateError         a template that cannot be rendered
    │   └── UnsafeTemplateError   it would run code and --trust was not given
    ├── ProvenanceError       .svc.yml (or a copier/cruft answers file) is missing or corrupt
    ├── RepositoryStateError  the service's git repository is not in a state to work on
    ├── GitError              a git command failed
    └── RegistryError         the service registry cannot be reached or read

Results the user must act on (conflicts, a service behind its template) are not
errors: commands return them and the CLI exits 1. `Terminated` is SIGTERM, raised where
Ctrl-C would be (it is a KeyboardInterrupt, so every rollback treats both alike).
"""

from __future__ import annotations


class ScaffoldError(Exception):
    """Root of every error svc reports as a clean message (exit code 2)."""


class InputError(ScaffoldError):
    """The command line asked for something invalid."""


class SourceError(ScaffoldError):
    """A template source or ref cannot be found or fetched."""


class ConfigError(ScaffoldError):
    """A configuration file is not valid TOML or does not say what svc expects."""


class TemplateError(ScaffoldError):
    """A template cannot be rendered."""


class UnsafeTemplateError(TemplateError):
    """The template runs code (tasks, hooks, extensions, migrations) and --trust was not given."""


class ProvenanceError(ScaffoldError):
    """The record of which template made a service is missing or corrupt."""


class RepositoryStateError(ScaffoldError):
    """The repository is dirty, mid-merge, or otherwise not ready for the command."""


class GitError(ScaffoldError):
    """A git command failed."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        self.command = args
        self.returncode = returncode
        self.stderr = stderr.strip()
        super().__init__(f"git {' '.join(args)} failed: {self.reason}")

    @property
    def reason(self) -> str:
        """What went wrong, in git's words: its fatal/error lines, not the advice after them."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        said = [line for line in lines if line.startswith(("fatal:", "error:", "ssh:"))]
        picked = said[:2] or lines[:1]
        text = "; ".join(line.removeprefix("fatal: ").removeprefix("error: ") for line in picked)
        return text.rstrip(".") or f"exit code {self.returncode}"


class RegistryError(ScaffoldError):
    """The service registry cannot be reached or read."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (`timeout`, a CI runner): handled as Ctrl-C, reported with exit 143."""
