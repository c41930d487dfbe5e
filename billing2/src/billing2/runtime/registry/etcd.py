# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Registry backend on etcd v3, spoken through etcd's JSON gateway with httpx.

The gateway (grpc-gateway in front of etcd's gRPC API) needs no gRPC or protobuf
dependency, at the price of a few quirks this module hides:

- keys and values travel base64-encoded;
- int64 fields (lease IDs, TTLs, revisions, counts) are JSON strings;
- fields holding their default value are omitted: a range that matches nothing has no
  ``kvs``, and a keepalive on an expired lease answers 200 with no ``TTL`` at all, which
  means the lease (and the key bound to it) is gone and the instance must register again;
- a put naming an unknown lease answers 404 with gRPC code 5 (NOT_FOUND).

Each instance is one key, ``/services/<realm>/<service>/<instance>``, bound to a lease of
its own; the value is ``Instance.to_json()``. When the process dies the lease expires and
etcd deletes the key, so every key in a range is a live instance.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import random
from collections.abc import Sequence
from typing import Any

import httpx

from ..logs import get_logger
from .base import Instance, RegistrationLost, RegistryUnavailable

SERVICES_PREFIX = "/services/"
_GRPC_NOT_FOUND = 5

log = get_logger(__name__)


class _NotFound(Exception):
    """etcd answered NOT_FOUND (an unknown or expired lease)."""


def instance_key(realm: str, service: str, instance: str = "") -> str:
    """The key of one instance, or with ``instance`` empty the prefix of a service."""
    for part in (realm, service, instance):
        if "/" in part:
            raise ValueError(f"registry key parts may not contain '/': {part!r}")
    return f"{SERVICES_PREFIX}{realm}/{service}/{instance}"


def realm_prefix(realm: str) -> str:
    if not realm or "/" in realm:
        raise ValueError(f"not a realm name: {realm!r}")
    return f"{SERVICES_PREFIX}{realm}/"


def prefix_range_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with ``prefix`` (etcd's range_end).

    ``/services/dev/`` becomes ``/services/dev0``: the last byte plus one, after dropping
    trailing 0xff bytes, which cannot be incremented.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\x00"  # etcd reads "\0" as "every key from `key` on"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


class EtcdRegistry:
    """The ``Registry`` protocol on an etcd cluster, failing over between its members.

    ``endpoints`` are client URLs such as ``http://10.0.0.5:2379``. Calls go to the member
    that answered last; a member that cannot be reached (or answers 5xx, e.g. while it
    has no leader) is skipped for the next one. Only when none answers does a call raise
    ``RegistryUnavailable``. The starting member is random so that many instances spread
    their heartbeats over the cluster.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("EtcdRegistry needs at least one endpoint")
        self._endpoints = [endpoint.rstrip("/") for endpoint in endpoints]
        self._current = random.randrange(len(self._endpoints))  # noqa: S311 - spreads load
        self._leases: dict[str, str] = {}  # key -> lease ID (a string, as the gateway has it)
        # trust_env=False: the registry is infrastructure on the local network; an
        # HTTP(S)_PROXY meant for the outside world must not sit between us and etcd.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 1.0)),
            transport=transport,
            trust_env=False,
        )

    @property
    def endpoints(self) -> list[str]:
        return list(self._endpoints)

    @property
    def current_endpoint(self) -> str:
        """The member the next call goes to first (the one that answered last)."""
        return self._endpoints[self._current]

    async def register(self, instance: Instance, ttl: float) -> None:
        """Grant a lease of ``ttl`` seconds and put the instance's key under it."""
        key = instance_key(instance.realm, instance.service, instance.instance)
        lease = await self._grant(ttl)
        body = {"key": _b64(key), "value": _b64(instance.to_json()), "lease": lease}
        try:
            await self._call("/v3/kv/put", body)
        except _NotFound as exc:
            # Only possible if the lease expired between grant and put: etcd is too slow.
            raise RegistryUnavailable(f"etcd lost a fresh lease for {key}") from exc
        previous = self._leases.get(key)
        self._leases[key] = lease
        if previous is not None and previous != lease:
            await self._revoke_quietly(previous)

    async def heartbeat(self, instance: Instance, ttl: float) -> None:
        """Keep the instance's lease alive (``ttl`` was fixed when the lease was granted).

        Raises ``RegistrationLost`` when etcd no longer knows the lease: the caller must
        ``register`` again.
        """
        key = instance_key(instance.realm, instance.service, instance.instance)
        lease = self._leases.get(key)
        if lease is None:
            raise RegistrationLost(f"{key} was never registered through this client")
        try:
            answer = await self._call("/v3/lease/keepalive", {"ID": lease})
        except _NotFound:
            answer = {}
        # The unary keepalive answers as one message of a stream: {"result": {...}}.
        result = answer.get("result", answer)
        if int(result.get("TTL", "0")) <= 0:
            self._leases.pop(key, None)
            raise RegistrationLost(f"the lease of {key} expired")

    async def deregister(self, instance: Instance) -> None:
        """Revoke the instance's lease, which deletes its key at once."""
        key = instance_key(instance.realm, instance.service, instance.instance)
        lease = self._leases.pop(key, None)
        if lease is None:
            await self._call("/v3/kv/deleterange", {"key": _b64(key)})
            return
        with contextlib.suppress(_NotFound):  # already expired: the key is gone already
            await self._call("/v3/lease/revoke", {"ID": lease})

    async def lookup(self, realm: str, service: str) -> list[Instance]:
        """The live instances of ``service`` in ``realm``."""
        return await self._range(instance_key(realm, service))

    async def list_realm(self, realm: str) -> list[Instance]:
        """Every live instance in ``realm``."""
        return await self._range(realm_prefix(realm))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _grant(self, ttl: float) -> str:
        answer = await self._call("/v3/lease/grant", {"TTL": max(1, math.ceil(ttl))})
        if answer.get("error") or "ID" not in answer:
            raise RegistryUnavailable(f"etcd granted no lease: {answer}")
        return str(answer["ID"])

    async def _revoke_quietly(self, lease: str) -> None:
        # A superseded lease would expire by itself; revoking only frees it sooner.
        with contextlib.suppress(_NotFound, RegistryUnavailable):
            await self._call("/v3/lease/revoke", {"ID": lease})

    async def _range(self, prefix: str) -> list[Instance]:
        raw_prefix = prefix.encode()
        body = {"key": _b64(raw_prefix), "range_end": _b64(prefix_range_end(raw_prefix))}
        answer = await self._call("/v3/kv/range", body)
        instances = []
        for kv in answer.get("kvs", []):  # absent, not empty, when nothing matches
            instance = _parse_instance(kv)
            if instance is not None:
                instances.append(instance)
        return instances

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to the first member that answers, starting with the last good one."""
        failures = []
        count = len(self._endpoints)
        for step in range(count):
            index = (self._current + step) % count
            endpoint = self._endpoints[index]
            try:
                response = await self._http.post(endpoint + path, json=body)
            except httpx.TransportError as exc:
                failures.append(f"{endpoint}: {type(exc).__name__}")
                continue
            if response.status_code >= 500:
                # 503 is etcd's "no leader"/"unavailable": another member may have quorum.
                failures.append(f"{endpoint}: HTTP {response.status_code}")
                continue
            self._current = index
            return _decode(response)
        raise RegistryUnavailable(f"no etcd endpoint answered {path}: {'; '.join(failures)}")


def _decode(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except json.JSONDecodeError as exc:
        raise RegistryUnavailable(f"etcd answered {response.status_code} without JSON") from exc
    if not isinstance(answer, dict):
        raise RegistryUnavailable(f"etcd answered {response.status_code} with {answer!r}")
    error = answer.get("error")
    if response.status_code == 200 and not error:
        return answer
    # Unary calls put the gRPC status in "code"; streamed ones (keepalive) nest it:
    # {"error": {"grpc_code": 14, "message": ...}}.
    if isinstance(error, dict):
        code, message = error.get("grpc_code"), error.get("message")
    else:
        code, message = answer.get("code"), error or answer.get("message")
    if code == _GRPC_NOT_FOUND:
        raise _NotFound(message)
    raise RegistryUnavailable(
        f"etcd refused the request ({response.status_code}): {message or response.reason_phrase}"
    )


def _parse_instance(kv: dict[str, Any]) -> Instance | None:
    """The instance stored in one key-value pair, or None when its value is not one."""
    try:
        return Instance.from_json(_unb64(kv.get("value", "")).decode())
    except (ValueError, TypeError, KeyError) as exc:
        # Someone else's key under /services/, or an entry from an incompatible version:
        # skip it rather than fail every lookup in the realm.
        key = _unb64(kv.get("key", "")).decode(errors="replace")
        log.warning("registry_entry_unreadable", key=key, error=str(exc))
        return None
