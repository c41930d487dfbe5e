# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""What the typed clients that `svc client add` writes are built on: one call, typed, over the smart client.

    from billing.clients.identity import get_user          # sync
    from billing.clients.identity import get_user_async    # the async twin

A generated function names its `Operation` and its arguments; this module sends the call
through the smart client (discovery, retries, budgets, request IDs) and turns the answer
into the declared type, or into one of the typed errors:

* ``ServiceNotFound``: no live instance of the service in the realm;
* ``ServiceUnavailable``: instances are listed but none answered (after the retries), or
  the last answer was 502/503/504;
* ``ServiceError``: the service answered with another error status; ``.body`` is its own
  error document (FastAPI's ``{"detail": ...}``), ``.status_code`` the status.

Without ``client=``, the async functions use the running service's smart client, and the
sync ones a client of their own, made on first use from ``SVC_REALM`` and
``SVC_REGISTRY_URL`` (so they work in scripts too).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from .client import SmartClient, SyncSmartClient
from .registry import default_registry_url, open_registry
from .resolver import ServiceNotFound
from .retry import GATEWAY_STATUSES

__all__ = [
    "Operation",
    "ServiceError",
    "ServiceNotFound",
    "ServiceUnavailable",
    "SmartClient",
    "SyncSmartClient",
    "call",
    "call_async",
    "use_platform_client",
]

T = TypeVar("T")


class ServiceUnavailable(httpx.TransportError):
    """The service is listed but gave no usable answer, after the smart client's retries."""


class ServiceError(httpx.HTTPStatusError):
    """The service answered with an error status; ``body`` is its error document (JSON, else text)."""

    def __init__(self, message: str, *, request: httpx.Request, response: httpx.Response) -> None:
        super().__init__(message, request=request, response=response)
        self.status_code = response.status_code
        self.body: Any = _body(response)


@dataclass(frozen=True)
class Operation(Generic[T]):
    """One operation of another service: where it is and what its success answer is."""

    service: str
    method: str
    path: str  # the OpenAPI path template, e.g. /v1/users/{user_id}
    returns: TypeAdapter[T]

    def url(self, path: Mapping[str, Any]) -> str:
        filled = self.path.format_map({key: quote(str(value), safe="") for key, value in path.items()})
        return f"service://{self.service}{filled}"


def call(
    operation: Operation[T],
    client: SyncSmartClient | None = None,
    *,
    path: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, Any] | None = None,
    body: Any = None,
) -> T:
    """Send `operation` with these arguments and return its typed answer (or raise a typed error)."""
    sender = client or _default_sync_client()
    request = _request(sender, operation, path, query, headers, body)
    try:
        response = sender.send(request)
    except ServiceNotFound:
        raise
    except httpx.TransportError as exc:
        raise ServiceUnavailable(f"{operation.service} did not answer: {exc}", request=request) from exc
    return _answer(operation, response)


async def call_async(
    operation: Operation[T],
    client: SmartClient | None = None,
    *,
    path: Mapping[str, Any] | None = None,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, Any] | None = None,
    body: Any = None,
) -> T:
    """`call` for async code: by default through the running service's smart client."""
    sender = client or _platform_client()
    request = _request(sender, operation, path, query, headers, body)
    try:
        response = await sender.send(request)
    except ServiceNotFound:
        raise
    except httpx.TransportError as exc:
        raise ServiceUnavailable(f"{operation.service} did not answer: {exc}", request=request) from exc
    await response.aread()
    return _answer(operation, response)


def _request(
    client: httpx.Client | httpx.AsyncClient,
    operation: Operation[Any],
    path: Mapping[str, Any] | None,
    query: Mapping[str, Any] | None,
    headers: Mapping[str, Any] | None,
    body: Any,
) -> httpx.Request:
    # An argument left out (None) is not sent, as the generated signature's default says.
    params = {key: _plain(value) for key, value in (query or {}).items() if value is not None}
    sent_headers = {key: str(_plain(value)) for key, value in (headers or {}).items() if value is not None}
    return client.build_request(
        operation.method,
        operation.url(path or {}),
        params=params,
        headers=sent_headers,
        json=None if body is None else _plain(body),
    )


def _plain(value: Any) -> Any:
    """A model (or a list of them) as the JSON the service expects: by alias, unset fields left out."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _answer(operation: Operation[T], response: httpx.Response) -> T:
    if response.status_code in GATEWAY_STATUSES:
        raise ServiceUnavailable(
            f"{operation.service} answered {response.status_code} after the retries", request=response.request
        )
    if response.is_error:
        raise ServiceError(
            f"{operation.service} answered {response.status_code} to {operation.method} {operation.path}",
            request=response.request,
            response=response,
        )
    if response.status_code == 204 or not response.content:
        return operation.returns.validate_python(None)
    return operation.returns.validate_json(response.content)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


_platform: SmartClient | None = None
_sync_client: SyncSmartClient | None = None
_sync_lock = threading.Lock()


def use_platform_client(client: SmartClient | None) -> None:
    """Make `client` the async functions' default (the platform does this while the app runs)."""
    global _platform
    _platform = client


def _platform_client() -> SmartClient:
    if _platform is None:
        raise RuntimeError(
            "no running service to call from: pass client=SmartClient(...), or call the sync function"
        )
    return _platform


def _default_sync_client() -> SyncSmartClient:
    global _sync_client
    with _sync_lock:
        if _sync_client is None:
            registry_url = os.environ.get("SVC_REGISTRY_URL") or default_registry_url()
            # Its own registry: the sync client runs it on a loop of its own (see SyncSmartClient).
            _sync_client = SyncSmartClient(open_registry(registry_url), os.environ.get("SVC_REALM", "dev"))
            atexit.register(_sync_client.close)
        return _sync_client
