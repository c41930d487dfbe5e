# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""One log pipeline for the service, uvicorn and libraries: JSON lines on stdout (or console text).

Our own events go through structlog directly (fast path); records of the standard `logging`
module (uvicorn, libraries) pass through the same processors via `ProcessorFormatter`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


class _Stdout:
    """Writes to whatever `sys.stdout` is at the time, so a replaced stdout (tests) still gets lines."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's fast line writer, with the name that `add_logger_name` puts on each line."""

    def __init__(self, name: str) -> None:
        super().__init__(file=_Stdout())  # type: ignore[arg-type]
        self.name = name


def _named_logger_factory(*args: Any) -> _NamedWriteLogger:
    return _NamedWriteLogger(str(args[0]) if args else "app")


def get_logger(name: str) -> Any:
    """A structlog logger whose lines say `logger=name`; safe to create at import time."""
    return structlog.get_logger(name)


def current_request_id() -> str | None:
    """The id of the request being handled, for handlers and outgoing calls."""
    return REQUEST_ID.get()


def _dumps(value: object, **options: Any) -> str:
    # orjson is several times faster than json, and an access line is written for every request.
    return orjson.dumps(value, default=options.get("default")).decode()


class _Pipeline:
    """What configure_logging() last chose. Processors read it at call time, so cached loggers
    (made once, at first use) still follow a later configuration."""

    static: dict[str, object] = {}  # noqa: RUF012 - replaced as a whole, never mutated in place
    console = False
    json_renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    console_renderer = structlog.dev.ConsoleRenderer(colors=False)


def _add_static(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    event.update(_Pipeline.static)
    return event


def _add_request_id(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def _render(logger: WrappedLogger, method: str, event: EventDict) -> str:
    if _Pipeline.console:
        return str(_Pipeline.console_renderer(logger, method, event))
    event = structlog.processors.dict_tracebacks(logger, method, event)
    return str(_Pipeline.json_renderer(logger, method, event))


_SHARED: list[Processor] = [
    structlog.stdlib.add_logger_name,
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _add_static,
    _add_request_id,
]


def configure_logging(*, log_format: str, level: str, static: Mapping[str, object]) -> None:
    """Route every log line of the process through one pipeline; `static` fields go on every line.

    The level applies to structlog loggers first used after the first call (they are cached).
    """
    _Pipeline.static = dict(static)
    _Pipeline.console = log_format == "console"
    colors = _Pipeline.console and sys.stdout.isatty()
    _Pipeline.console_renderer = structlog.dev.ConsoleRenderer(colors=colors)
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*_SHARED, _render],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=_named_logger_factory,
        cache_logger_on_first_use=True,
    )
    _route_standard_logging(numeric_level)


def _route_standard_logging(level: int) -> None:
    handler = logging.StreamHandler(_Stdout())
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
    # Our middleware writes the access line, with route, duration and request id.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO; registry heartbeats would flood the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
