"""Compiled templates kept between renders, in the user's cache: Jinja compiles each file of a
template once per machine instead of once per render.

Compiling is a third of the CPU of rendering a copier template, and the same files are
compiled again and again: by every service of a fleet, by each update's target render, by
every `svc new`. Jinja's own bytecode cache keys an entry by the template's file path (a
temporary checkout, new on every render) and by nothing of the environment. Here an entry is
keyed by the file's name in the template, its text, and everything of the environment that
changes the compiled code: the library versions, the syntax settings, the extensions and the
filters and tests with how they are called. A template that brings Jinja extensions of its
own gets no cache: code of theirs that shapes compilation can change without any version
svc could see.

Entries are marshalled Python code, loaded without a check of their own, so the folder must be
the user's alone: svc makes it private, and uses no cache in a folder that others can write.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import stat
import sys
from pathlib import Path
from typing import Any

from jinja2 import Environment
from jinja2.bccache import Bucket, FileSystemBytecodeCache

from .. import sources

# Entries are dropped oldest first beyond this many (a few KiB each).
MAX_ENTRIES = 20_000
_LIBRARIES = ("jinja2", "copier", "jinja2-ansible-filters", "markupsafe")
_SYNTAX = (
    "block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
    "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
    "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized",
    "is_async", "autoescape", "finalize",
)  # fmt: skip


class CompiledCache(FileSystemBytecodeCache):
    """Jinja's file cache, keyed by what decides the compiled code rather than by file path."""

    def __init__(self, directory: Path, environment: Environment) -> None:
        super().__init__(str(directory), "%s.jinja-code")
        self.fingerprint = environment_fingerprint(environment)
        self.written = 0

    def get_bucket(self, environment: Environment, name: str, filename: str | None, source: str) -> Bucket:
        key = hashlib.sha256(f"{self.fingerprint}\0{name}\0{source}".encode()).hexdigest()
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def dump_bytecode(self, bucket: Bucket) -> None:
        super().dump_bytecode(bucket)
        self.written += 1

    def prune(self) -> None:
        """Drop the oldest entries beyond MAX_ENTRIES; only after a render that added some."""
        if not self.written:
            return
        with os.scandir(self.directory) as found:
            entries = [entry for entry in found if entry.name.endswith(".jinja-code")]
        if len(entries) <= MAX_ENTRIES:
            return
        entries.sort(key=lambda entry: entry.stat().st_mtime_ns)
        for entry in entries[: len(entries) - MAX_ENTRIES]:
            Path(entry.path).unlink(missing_ok=True)


def environment_fingerprint(environment: Environment) -> str:
    """Everything of `environment` that the code Jinja compiles for a template depends on."""
    versions = []
    for library in _LIBRARIES:
        try:
            versions.append(f"{library}={importlib.metadata.version(library)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{library}=-")
    settings = [f"{name}={getattr(environment, name, None)!r}" for name in _SYNTAX]
    callables = [
        f"{kind}:{name}:{getattr(function, 'jinja_pass_arg', None)!r}"
        for kind, table in (("filter", environment.filters), ("test", environment.tests))
        for name, function in sorted(table.items())
    ]
    parts = [sys.version, type(environment).__qualname__, *versions, *settings,
             *sorted(environment.extensions), *callables]  # fmt: skip
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def attach(environment: Environment, own_extensions: list[Any]) -> CompiledCache | None:
    """Give `environment` the user's compiled-template cache; None when it may not have one."""
    if own_extensions:
        return None
    directory = sources.cache_dir("compiled")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = directory.stat()
    except OSError:
        return None
    if found.st_uid != os.getuid() or found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    cache = CompiledCache(directory, environment)
    environment.bytecode_cache = cache
    return cache
