"""Compiled templates kept between renders, in the user's cache: Jinja compiles each file of a
template once per machine instead of once per render.

Compiling is a third of the CPU of rendering a copier template, and the same files are
compiled again and again: by every service of a fleet, by each update's target render, by
every `svc new`. A template folder's compiled files are kept together in one pack (one file
to read and, after a render that compiled something, one to write): a file per template would
cost more to write on a first render than compiling saves. The pack is named by the folder and
by everything of the environment that changes the compiled code: the library versions, the
syntax settings, the extensions, and the filters and tests with how they are called. Within
it an entry is keyed by the file's name and text, so an edited file is compiled again. A
template that brings Jinja extensions of its own gets no cache: code of theirs that shapes
compilation can change without any version svc could see.

Entries are marshalled Python code, loaded without a check of their own, so the folder must be
the user's alone: svc makes it private, and uses no cache in a folder that others can write.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import marshal
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, Template
from jinja2.bccache import Bucket, BytecodeCache

from .. import sources

# Packs beyond this many are dropped, least recently used first.
MAX_PACKS = 64
_SUFFIX = ".jinja-pack"
# Whose code shapes what Jinja compiles: Jinja's compiler, copier's environment and filters.
_LIBRARIES = ("jinja2.compiler", "jinja2", "copier", "jinja2_ansible_filters")
_SYNTAX = (
    "block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
    "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
    "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized",
    "is_async", "autoescape", "finalize",
)  # fmt: skip


class CompiledCache(BytecodeCache):
    """The compiled files of one template folder for one environment, read and written whole."""

    def __init__(self, pack: Path) -> None:
        self.pack = pack
        self._entries: dict[str, bytes] | None = None
        self._used: set[str] = set()
        self._added = False

    def get_bucket(self, environment: Environment, name: str, filename: str | None, source: str) -> Bucket:
        key = hashlib.sha256(f"{name}\0{source}".encode()).hexdigest()
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        self._used.add(bucket.key)
        found = self.entries().get(bucket.key)
        if found is not None:
            bucket.bytecode_from_string(found)  # checks Jinja's format and the source's checksum

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.entries()[bucket.key] = bucket.bytecode_to_string()
        self._added = True

    def entries(self) -> dict[str, bytes]:
        if self._entries is None:
            self._entries = {}
            with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
                # The folder is the user's alone (attach() checks), as their own bytecode is.
                loaded = marshal.loads(self.pack.read_bytes())  # noqa: S302
                if isinstance(loaded, dict):
                    self._entries = loaded
                os.utime(self.pack)  # used: the last to be dropped
        return self._entries

    def save(self) -> None:
        """Write the pack again if this render compiled anything, with only the entries it used
        (the folder's files as they are now), and drop the least recently used packs."""
        if not self._added:
            return
        kept = {key: code for key, code in self.entries().items() if key in self._used}
        # A pack that cannot be written (a full disk) costs the next render its compilations, nothing more.
        try:
            handle, name = tempfile.mkstemp(dir=self.pack.parent, prefix=".pack-")
        except OSError:
            return
        written = Path(name)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(marshal.dumps(kept))
            written.replace(self.pack)  # whole or not at all, for renders running alongside
        except OSError:
            written.unlink(missing_ok=True)
            return
        _drop_least_used(self.pack.parent)


def _drop_least_used(folder: Path) -> None:
    def last_used(pack: Path) -> int:
        try:
            return pack.stat().st_mtime_ns
        except OSError:  # another svc dropped it meanwhile
            return 0

    packs = sorted(folder.glob("*" + _SUFFIX), key=last_used)
    for pack in packs[: max(0, len(packs) - MAX_PACKS)]:
        pack.unlink(missing_ok=True)


def environment_fingerprint(environment: Environment) -> str:
    """Everything of `environment` that the code Jinja compiles for a template depends on."""
    settings = [f"{name}={getattr(environment, name, None)!r}" for name in _SYNTAX]
    callables = [
        f"{kind}:{name}:{getattr(function, 'jinja_pass_arg', None)!r}"
        for kind, table in (("filter", environment.filters), ("test", environment.tests))
        for name, function in sorted(table.items())
    ]
    parts = [sys.version, type(environment).__qualname__, *map(_installed, _LIBRARIES), *settings,
             *sorted(environment.extensions), *callables]  # fmt: skip
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _installed(name: str) -> str:
    """The version of the library imported as `name`, and its file's size and time of change:
    a reinstall of the same version (a patched one) changes them too."""
    module = sys.modules.get(name) or importlib.import_module(name)
    found = Path(module.__file__ or name).stat()
    return f"{name}={getattr(module, '__version__', '-')}:{found.st_size}:{found.st_mtime_ns}"


def attach(environment: Environment, template_dir: Path, own_extensions: list[Any]) -> CompiledCache | None:
    """Give `environment` the user's cache of the compiled files of `template_dir`; None when
    it may not have one."""
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
    name = hashlib.sha256(f"{environment_fingerprint(environment)}\0{template_dir}".encode()).hexdigest()
    cache = CompiledCache(directory / (name + _SUFFIX))
    environment.bytecode_cache = cache
    return cache


def compile_strings_once(environment: Environment, cache: CompiledCache | None) -> None:
    """Make `environment.from_string` compile each text once: copier compiles the same path
    parts and question defaults for every file and question, and again in every render. The
    compiled code comes from `cache` when there is one; templates made from it are reused."""
    made: dict[str, Template] = {}
    from_string = environment.from_string

    def compiled_once(source: Any, globals: Any = None, template_class: Any = None) -> Template:
        if globals is not None or template_class is not None or not isinstance(source, str):
            return from_string(source, globals, template_class)
        template = made.get(source)
        if template is None:
            template = made[source] = _from_code(environment, cache, source)
        return template

    environment.from_string = compiled_once  # type: ignore[method-assign]


def _from_code(environment: Environment, cache: CompiledCache | None, source: str) -> Template:
    """What `environment.from_string(source)` makes, with its code from `cache` when it has it."""
    if cache is None:
        code = environment.compile(source)
    else:
        bucket = cache.get_bucket(environment, "<string>", None, source)
        if bucket.code is None:
            bucket.code = environment.compile(source)
            cache.set_bucket(bucket)
        code = bucket.code
    return environment.template_class.from_code(environment, code, environment.make_globals(None))


def save(environment: Environment) -> None:
    """After a render: write what it compiled into the cache `attach` gave `environment`, if any."""
    if isinstance(environment.bytecode_cache, CompiledCache):
        environment.bytecode_cache.save()
