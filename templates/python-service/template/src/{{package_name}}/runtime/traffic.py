# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""The traffic log: every smart-client call as an entry of a HAR 1.2 file (`SVC_TRAFFIC_LOG=PATH`).

Browsers' devtools and HAR viewers open the file; `svc traffic PATH [--follow]` prints it.
Besides HAR's own fields, an entry says which instance answered (`_instance`), the URL the
caller asked for (`_service`), each attempt (`_attempts`, `_retries`) and the trace (`_trace_id`).

Headers and JSON or form bodies are redacted as log lines are (redaction.py); bodies are kept
up to `MAX_BODY_BYTES`. The file is always one complete document: each call rewrites it
(to a temporary file renamed over it, under an `fcntl` lock on `PATH.lock`, so that several
processes can share it), keeping the last `MAX_ENTRIES` entries. Meant for debugging: a
call costs a rewrite of the file.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson

from .logs import get_logger
from .redaction import REDACTED, Redactor

ENVIRONMENT_VARIABLE = "SVC_TRAFFIC_LOG"
MAX_ENTRIES = 500
MAX_BODY_BYTES = 8192
_JSON_TYPES = ("application/json", "+json")
_FORM_TYPE = "application/x-www-form-urlencoded"
# HAR's -1: timings the transport does not see apart (they are part of `wait`).
_UNMEASURED = {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1}

log = get_logger(__name__)


def path_from_environment() -> Path | None:
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    return Path(value) if value else None


@dataclass
class Exchange:
    """What one call did, collected by the transport while it runs."""

    request: httpx.Request
    started_at: float  # time.time(), for startedDateTime
    started: float  # the transport's clock
    trace_id: str | None
    attempts: list[dict[str, object]] = field(default_factory=list)

    def attempted(self, instance: str, url: httpx.URL, outcome: httpx.Response | Exception) -> None:
        result = outcome.status_code if isinstance(outcome, httpx.Response) else type(outcome).__name__
        self.attempts.append({"instance": instance, "url": str(url), "outcome": result})


class TrafficLog:
    """Writes exchanges to the HAR file at `path`; `source` ("name/version") becomes its creator."""

    def __init__(
        self,
        path: Path,
        *,
        source: str = "smart-client",
        redactor: Callable[[], Redactor] | None = None,
        max_entries: int | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        self.path = path
        name, _, version = source.partition("/")
        self.creator = {"name": name, "version": version or "unknown"}
        self._redactor = redactor or Redactor
        self.max_entries = MAX_ENTRIES if max_entries is None else max_entries
        self.max_body_bytes = MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes

    def failed(self, exchange: Exchange, error: Exception, now: float) -> None:
        """Record a call that got no response."""
        entry = self._entry(exchange, None, b"", 0, now, now)
        entry["_error"] = type(error).__name__
        self._append(entry)

    def answered(self, exchange: Exchange, response: httpx.Response, clock: Callable[[], float]) -> None:
        """Record the call once the caller has read (or closed) the response's body."""
        headers_at = clock()

        def closed(kept: bytes, size: int) -> None:
            self._append(self._entry(exchange, response, kept, size, headers_at, clock()))

        response.stream = _Recorded(response.stream, self.max_body_bytes * 8, closed)

    def _entry(
        self,
        exchange: Exchange,
        response: httpx.Response | None,
        body: bytes,
        body_size: int,
        headers_at: float,
        closed_at: float,
    ) -> dict[str, Any]:
        redactor = self._redactor()
        request = exchange.request
        wait, receive = _ms(headers_at - exchange.started), _ms(closed_at - headers_at)
        last = exchange.attempts[-1] if exchange.attempts else {"instance": "", "url": str(request.url)}
        url = httpx.URL(str(last["url"]))
        return {
            "startedDateTime": _iso(exchange.started_at),
            "time": wait + receive,
            "request": {
                "method": request.method,
                "url": str(_redacted_url(url, redactor)),
                "httpVersion": response.http_version if response is not None else "HTTP/1.1",
                "cookies": [],
                "headers": _headers(request.headers, redactor, self.max_body_bytes),
                "queryString": _query(url, redactor),
                "headersSize": -1,
                "bodySize": len(request.content),
                **self._post_data(request, redactor),
            },
            "response": self._response(response, body, body_size, redactor),
            "cache": {},
            "timings": {**_UNMEASURED, "send": 0, "wait": wait, "receive": receive},
            "_id": secrets.token_hex(8),
            "_service": str(_redacted_url(request.url, redactor)),
            "_instance": last["instance"],
            "_retries": max(0, len(exchange.attempts) - 1),
            "_attempts": [
                {**attempt, "url": str(_redacted_url(httpx.URL(str(attempt["url"])), redactor))}
                for attempt in exchange.attempts
            ],
            **({"_trace_id": exchange.trace_id} if exchange.trace_id else {}),
        }

    def _post_data(self, request: httpx.Request, redactor: Redactor) -> dict[str, Any]:
        if not request.content:
            return {}
        mime = request.headers.get("content-type", "")
        body = _body(request.content, len(request.content), mime, redactor, self.max_body_bytes)
        return {"postData": {"mimeType": mime, "params": [], **body}}

    def _response(
        self, response: httpx.Response | None, body: bytes, size: int, redactor: Redactor
    ) -> dict[str, Any]:
        if response is None:  # as browsers record a request that got no response
            return {"status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
                    "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
                    "headersSize": -1, "bodySize": -1}  # fmt: skip
        mime = response.headers.get("content-type", "x-unknown")
        content: dict[str, Any] = {"size": size, "mimeType": mime}
        encoding = response.headers.get("content-encoding", "identity")
        if encoding != "identity":
            content["comment"] = f"body not recorded: {encoding}-encoded"
        elif size:
            content.update(_body(body, size, mime, redactor, self.max_body_bytes))
        return {
            "status": response.status_code,
            "statusText": response.reason_phrase,
            "httpVersion": response.http_version,
            "cookies": [],
            "headers": _headers(response.headers, redactor, self.max_body_bytes),
            "content": content,
            "redirectURL": response.headers.get("location", ""),
            "headersSize": -1,
            "bodySize": size,
        }

    def _append(self, entry: dict[str, Any]) -> None:
        try:
            self._rewrite(entry)
        except OSError as error:  # a debugging aid must not fail the call it records
            log.warning("traffic_log_not_written", path=str(self.path), error=str(error))

    def _rewrite(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path.with_name(self.path.name + ".lock")):
            entries = [*_read_entries(self.path), entry][-self.max_entries :]
            document = {"log": {"version": "1.2", "creator": self.creator, "entries": entries}}
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(orjson.dumps(document))
                Path(temporary).replace(self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise


class _Recorded(httpx.AsyncByteStream, httpx.SyncByteStream):
    """A response body that keeps its first `keep` bytes for the log, and reports when it is closed."""

    def __init__(self, inner: Any, keep: int, closed: Callable[[bytes, int], None]) -> None:
        self._inner = inner
        self._keep = keep
        self._kept = bytearray()
        self._size = 0
        self._closed = closed
        self._done = False

    def _seen(self, chunk: bytes) -> bytes:
        self._size += len(chunk)
        room = self._keep - len(self._kept)
        if room > 0:
            self._kept += chunk[:room]
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            yield self._seen(chunk)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield self._seen(chunk)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._finish()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._finish()

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self._closed(bytes(self._kept), self._size)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_entries(path: Path) -> list[Any]:
    try:
        document = orjson.loads(path.read_bytes())
        entries = document["log"]["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # no log yet, or not ours: start a fresh one
    return entries if isinstance(entries, list) else []


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 3)


def _iso(timestamp: float) -> str:
    whole = int(timestamp)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((timestamp - whole) * 1000):03d}Z"


def _headers(headers: httpx.Headers, redactor: Redactor, limit: int) -> list[dict[str, str]]:
    return [
        {"name": name, "value": REDACTED if redactor.is_secret(name) else value[:limit]}
        for name, value in headers.multi_items()
    ]


def _query(url: httpx.URL, redactor: Redactor) -> list[dict[str, str]]:
    return [
        {"name": name, "value": REDACTED if redactor.is_secret(name) else value}
        for name, value in url.params.multi_items()
    ]


def _redacted_url(url: httpx.URL, redactor: Redactor) -> httpx.URL:
    pairs = url.params.multi_items()
    if not any(redactor.is_secret(name) for name, _ in pairs):
        return url
    return url.copy_with(query=_redacted_pairs(pairs, redactor).encode())


def _redacted_pairs(pairs: list[tuple[str, str]], redactor: Redactor) -> str:
    return urlencode([(name, REDACTED if redactor.is_secret(name) else value) for name, value in pairs])


def _body(body: bytes, size: int, mime: str, redactor: Redactor, limit: int) -> dict[str, str]:
    """HAR's `text` (redacted, at most `limit` bytes), `encoding` and `comment` for a body."""
    media = mime.split(";", 1)[0].strip().lower()
    if media.endswith(_JSON_TYPES) or media == _FORM_TYPE:
        # A structured body is redacted field by field, which needs all of it.
        if len(body) < size:
            return {"comment": f"body not recorded: over {len(body)} bytes, too long to redact"}
        try:
            if media == _FORM_TYPE:
                pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True)
                body = _redacted_pairs(pairs, redactor).encode()
            else:
                body = orjson.dumps(redactor.value(orjson.loads(body)))
        except ValueError:
            return {"comment": "body not recorded: it could not be parsed to redact it"}
    fields = {"comment": f"first {limit} of {size} bytes"} if size > limit else {}
    kept = body[:limit]
    try:
        fields["text"] = kept.decode()
    except UnicodeDecodeError as error:
        if size > limit and error.start >= len(kept) - 3:  # cut inside a character
            fields["text"] = kept[: error.start].decode()
        else:
            fields["text"], fields["encoding"] = base64.b64encode(kept).decode(), "base64"
    return fields
