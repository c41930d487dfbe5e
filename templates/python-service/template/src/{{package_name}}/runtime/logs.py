# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""One log pipeline for the service, uvicorn and libraries: JSON lines on stdout (or console text).

Our own events go through structlog directly (fast path); records of the standard `logging`
module (uvicorn, libraries) pass through the same processors via `ProcessorFormatter`.

What a line may not carry: the local variables of a traceback (they hold request bodies,
headers and keys), the values of secret fields (`Authorization`, cookies, the settings'
`SecretStr` fields, `SVC_LOG_REDACT_FIELDS`), and more than `MAX_LINE_BYTES` (Docker's
json-file driver splits longer lines into pieces that log pipelines no longer join).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Collection, Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from .redaction import Redactor

MAX_LINE_BYTES = 16_000  # with its newline, a line stays under Docker's 16 KiB (16,384 bytes)
# A traceback keeps this many frames (half from each end) and no local variables.
MAX_FRAMES = 20


# What every line written while a request is handled says about it.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
TRACE_ID: ContextVar[str | None] = ContextVar("trace_id", default=None)
SPAN_ID: ContextVar[str | None] = ContextVar("span_id", default=None)


class _Stdout:
    """Writes to whatever `sys.stdout` is at the time, so a replaced stdout (tests) still gets lines."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


_STDOUT = _Stdout()


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's fast line writer, with the name that each line's `logger` field shows."""

    def __init__(self, name: str) -> None:
        super().__init__(file=_STDOUT)  # type: ignore[arg-type]
        self.name = name


def _named_logger_factory(*args: Any) -> _NamedWriteLogger:
    return _NamedWriteLogger(str(args[0]) if args else "app")


def get_logger(name: str) -> Any:
    """A structlog logger whose lines say `logger=name`; safe to create at import time."""
    return structlog.get_logger(name)


def current_redactor() -> Redactor:
    """What log lines are redacted with, for other records of the service (the traffic log)."""
    return _Pipeline.redactor


def current_request_id() -> str | None:
    """The id of the request being handled, for handlers and outgoing calls."""
    return REQUEST_ID.get()


class _Clock:
    """ISO 8601 UTC timestamps, formatting the date and time only once a second."""

    second = -1
    prefix = ""

    @classmethod
    def now(cls) -> str:
        now = time.time()
        second = int(now)
        if second != cls.second:
            cls.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            cls.second = second
        return f"{cls.prefix}.{int((now - second) * 1_000_000):06d}Z"


class _Pipeline:
    """What configure_logging() last chose. Processors read it at call time, so cached loggers
    (made once, at first use) still follow a later configuration."""

    static: dict[str, object] = {}  # noqa: RUF012 - replaced as a whole, never mutated in place
    static_tail = b"}"  # `static` encoded once, as the end of a line of other fields
    level = logging.INFO
    redactor = Redactor()
    console = False
    console_renderer = structlog.dev.ConsoleRenderer(colors=False)


_LEVELS = {"warn": "warning", "exception": "error"}
_LEVEL_NUMBERS = logging.getLevelNamesMapping()
_LEVEL_NUMBERS.update({name.lower(): number for name, number in _LEVEL_NUMBERS.items()})
# Without locals: they would put whatever the failing code held (a card number, a token) in the log.
_tracebacks = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False, max_frames=MAX_FRAMES)
)


def _enrich(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    # One processor instead of five: every line passes here.
    record = event.get("_record")
    name = record.name if record is not None else getattr(logger, "name", "app")
    return _Pipeline.redactor.event(_add_common_fields(event, name, _LEVELS.get(method, method)))


def _add_common_fields(event: MutableMapping[str, Any], logger: str, level: str) -> MutableMapping[str, Any]:
    event.update(_Pipeline.static)
    return _add_line_fields(event, logger, level)


def _add_line_fields(event: MutableMapping[str, Any], logger: str, level: str) -> MutableMapping[str, Any]:
    """The common fields that differ from line to line: all but the service's static ones."""
    event["logger"] = logger
    event["level"] = level
    event["timestamp"] = _Clock.now()
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
        trace_id = TRACE_ID.get()
        if trace_id is not None:
            event.setdefault("trace_id", trace_id)
            span_id = SPAN_ID.get()
            if span_id is not None:
                event.setdefault("span_id", span_id)
    return event


def write_line(logger: str, level: str, event: str, fields: dict[str, Any]) -> None:
    """Log `event` as structlog would, for lines written on every request (the access line).

    Skips structlog's per-call machinery, which costs more than the rest of the request's
    telemetry; `fields` must hold no secrets (they are not redacted; bound context variables are).
    """
    if _LEVEL_NUMBERS[level] < _Pipeline.level:
        return
    if _Pipeline.console:
        getattr(get_logger(logger), level)(event, **fields)
        return
    bound = _bound_context()
    if bound:
        fields = {**_Pipeline.redactor.event(bound), **fields, "event": event}
        line = _fit(_add_common_fields(fields, logger, level))
    else:
        fields["event"] = event
        line = _encode(_add_line_fields(fields, logger, level))[:-1] + _Pipeline.static_tail
        if len(line) > MAX_LINE_BYTES:
            line = _fit({**fields, **_Pipeline.static})
    _STDOUT.write(line.decode() + "\n")
    _STDOUT.flush()


# Every variable that structlog's bind_contextvars() has made (private, hence the fallback): while
# it is empty, nothing is bound and the line need not look through the whole context for it.
_STRUCTLOG_VARS = getattr(structlog.contextvars, "_CONTEXT_VARS", None)


def _bound_context() -> dict[str, Any]:
    """What structlog.contextvars.bind_contextvars() has bound in the current context."""
    if _STRUCTLOG_VARS is not None and not _STRUCTLOG_VARS:
        return {}
    return structlog.contextvars.get_contextvars()


def _render(logger: WrappedLogger, method: str, event: EventDict) -> str:
    if _Pipeline.console:
        return str(_Pipeline.console_renderer(logger, method, event))
    if "exc_info" in event:
        event = _tracebacks(logger, method, event)
    return _fit(event).decode()


def _encode(event: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(event, default=repr, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # what orjson cannot take (an int beyond 64 bits) must not lose the line
        return json.dumps(event, default=repr, ensure_ascii=False).encode()


# Kept when nothing else fits: who wrote the line, about what, and which request.
_ESSENTIAL = ("timestamp", "level", "logger", "event", "service", "realm", "version", "instance",
              "request_id", "trace_id", "span_id", "method", "route", "status")  # fmt: skip


def _fit(event: Mapping[str, Any]) -> bytes:
    """The line as JSON, shortened until it fits MAX_LINE_BYTES; a shortened line has `truncated: true`."""
    line = _encode(event)
    if len(line) <= MAX_LINE_BYTES:
        return line
    for limit in (2048, 256):
        shortened = {key: _shorten(value, limit) for key, value in event.items()}
        shortened["truncated"] = True
        line = _encode(shortened)
        if len(line) <= MAX_LINE_BYTES:
            return line
    essential = {key: _shorten(event[key], 256) for key in _ESSENTIAL if key in event}
    return _encode({**essential, "truncated": True})


def _shorten(value: Any, limit: int) -> Any:
    """`value` with long strings cut to `limit` characters and long lists to their ends."""
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[:limit]}... [{len(value) - limit} more characters]"
    if isinstance(value, Mapping):
        return {str(key): _shorten(item, limit) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [_shorten(item, limit) for item in value]
        keep = max(2, limit // 256)
        if len(items) > 2 * keep:
            return [*items[:keep], f"... [{len(items) - 2 * keep} items left out]", *items[-keep:]]
        return items
    if isinstance(value, bool | int | float) or value is None:
        return value
    return _shorten(repr(value), limit)


_SHARED: list[Processor] = [structlog.contextvars.merge_contextvars, _enrich]


def configure_logging(
    *,
    log_format: str,
    level: str,
    static: Mapping[str, object],
    redact: Collection[str] = (),
) -> None:
    """Route every log line of the process through one pipeline; `static` fields go on every line.

    Fields named in `redact` (and the usual secret names) are written as `[redacted]`, at the
    top of a line and inside logged mappings (headers) and settings. The level applies to
    structlog loggers first used after the first call (they are cached).
    """
    _Pipeline.static = dict(static)
    _Pipeline.static_tail = b"," + _encode(_Pipeline.static)[1:] if static else b"}"
    _Pipeline.redactor = Redactor(redact)
    _Pipeline.console = log_format == "console"
    colors = _Pipeline.console and sys.stdout.isatty()
    # plain_traceback: the default (rich, when installed) shows every frame's local variables.
    _Pipeline.console_renderer = structlog.dev.ConsoleRenderer(
        colors=colors, exception_formatter=structlog.dev.plain_traceback
    )
    numeric_level = _Pipeline.level = _LEVEL_NUMBERS[level.upper()]
    structlog.configure(
        processors=[*_SHARED, _render],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=_named_logger_factory,
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(numeric_level)


class _AlreadyLogged(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application": the request's own line has the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not getattr(error, LOGGED_MARK, False)


# Set on an exception once a line about it is written, so that no other line repeats it.
LOGGED_MARK = "_svc_logged"


def _route_standard_logging(level: int) -> None:
    handler = logging.StreamHandler(_STDOUT)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _render],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    error_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _AlreadyLogged) for existing in error_logger.filters):
        error_logger.addFilter(_AlreadyLogged())
    # Our middleware writes the access line, with route, duration and request id.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO; registry heartbeats would flood the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
