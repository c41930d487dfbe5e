"""Reading the traffic log a generated service writes (`SVC_TRAFFIC_LOG`, HAR 1.2), for `svc traffic`.

The service rewrites the whole file on each call (keeping its last entries), so following it
means re-reading it when it changes and picking out the entries not seen yet: the service
gives each entry an `_id`; entries of other HAR writers are told apart by time, method and URL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError


@dataclass(frozen=True)
class Exchange:
    """One call as the traffic log recorded it."""

    id: str
    started: str  # ISO 8601, as HAR's startedDateTime
    method: str
    url: str
    status: int  # 0: no response
    time_ms: float
    instance: str | None  # the registry key of the instance that answered (smart-client entries)
    retries: int
    error: str | None  # the exception's class name when no response came back
    service_url: str | None  # the service:// URL the caller asked for
    trace_id: str | None


def read_exchanges(path: Path) -> list[Exchange]:
    """The exchanges in the HAR file at `path`, oldest first."""
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(
            f"There is no traffic log at {path}: a service writes one when SVC_TRAFFIC_LOG names it."
        ) from None
    except (OSError, ValueError) as error:
        raise InputError(f"Cannot read the traffic log {path}: {error}") from None
    entries = document.get("log", {}).get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InputError(f"{path} is not a HAR file: it has no log.entries.")
    return [_exchange(entry) for entry in entries if isinstance(entry, dict)]


def _exchange(entry: dict[str, Any]) -> Exchange:
    request, response = entry.get("request", {}), entry.get("response", {})
    started = str(entry.get("startedDateTime", ""))
    method, url = str(request.get("method", "")), str(request.get("url", ""))
    return Exchange(
        id=str(entry.get("_id") or f"{started} {method} {url}"),
        started=started,
        method=method,
        url=url,
        status=int(response.get("status", 0)),
        time_ms=float(entry.get("time", 0)),
        instance=entry.get("_instance"),
        retries=int(entry.get("_retries", 0)),
        error=entry.get("_error"),
        service_url=entry.get("_service"),
        trace_id=entry.get("_trace_id"),
    )


def follow(
    path: Path,
    *,
    interval: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[list[Exchange]]:
    """The exchanges in the file, then, each time it changes, the ones not seen before; forever.

    A file that does not exist yet is waited for.
    """
    seen: set[str] = set()
    version: tuple[int, int, int] | None = None
    while True:
        try:
            stat = path.stat()
        except FileNotFoundError:
            stat = None
        current = None if stat is None else (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if current is not None and current != version:
            version = current
            exchanges = read_exchanges(path)
            new = [exchange for exchange in exchanges if exchange.id not in seen]
            # Only ids still in the file are kept: the set stays as small as the file.
            seen = {exchange.id for exchange in exchanges}
            if new:
                yield new
        sleep(interval)
