"""Read the service registry that generated services write: who is live in a realm.

Two stores hold the same entries (keyed ``/services/<realm>/<service>/<instance>``, each
a JSON object with at least ``service, realm, instance, address, port, url, version,
started_at``):

- SQLite (``sqlite:///PATH``): the table ``instances(realm, service, instance, value,
  expires_at)``; a row is live while ``expires_at`` (unix time) is not past. The file is
  opened read-only: listing never writes to the developer's registry.
- etcd (``etcd://HOST:PORT[,HOST:PORT...]``): the keys under ``/services/<realm>/``,
  read through etcd's v3 JSON gateway (keys and values base64, int64 fields as strings,
  ``kvs`` absent when nothing matches). Every key is bound to a lease, so every key is
  live. Members are tried in turn until one answers.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import RegistryError, UsageError

DEFAULT_REALM = "dev"
_TIMEOUT = httpx.Timeout(3.0, connect=1.0)


@dataclass(frozen=True)
class InstanceRecord:
    """One live instance, as ``svc registry ls`` shows it."""

    service: str
    instance: str
    address: str
    port: int
    version: str
    started_at: str
    age_seconds: float | None  # None when started_at cannot be read
    url: str
    realm: str


def default_registry_url(environ: Mapping[str, str] | None = None) -> str:
    """``SVC_REGISTRY_URL``, else the local registry the generated services use by default."""
    env = os.environ if environ is None else environ
    if env.get("SVC_REGISTRY_URL"):
        return env["SVC_REGISTRY_URL"]
    state_home = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return f"sqlite://{Path(state_home).absolute() / 'svc' / 'registry.db'}"


def list_instances(
    url: str, realm: str = DEFAULT_REALM, *, now: datetime | None = None
) -> list[InstanceRecord]:
    """The live instances of ``realm`` in the registry at ``url``, by service and instance.

    Raises ``RegistryError`` when the registry cannot be reached or read, ``UsageError``
    for a URL or realm that cannot name one.
    """
    if not realm or "/" in realm:
        raise UsageError(f"{realm!r} is not a realm name; a realm is a word such as dev or prod.")
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        values = _read_sqlite(_sqlite_path(url, rest), realm)
    elif scheme == "etcd":
        values = _read_etcd(_etcd_endpoints(url), realm)
    else:
        raise UsageError(
            f"registry URL {url!r} is not one svc knows; "
            "write sqlite:///PATH or etcd://HOST:PORT[,HOST:PORT...]."
        )
    current = now or datetime.now(UTC)
    records = [record for value in values if (record := _record(value, realm, current))]
    return sorted(records, key=lambda r: (r.service, r.instance))


def _sqlite_path(url: str, rest: str) -> Path:
    if not rest.startswith("/") or not rest.strip("/"):
        raise UsageError(f"registry URL {url!r}: write sqlite:///ABSOLUTE/PATH.")
    return Path("/" + rest.lstrip("/"))


def _etcd_endpoints(url: str) -> list[str]:
    hosts = [host.strip() for host in urlsplit(url).netloc.split(",") if host.strip()]
    if not hosts:
        raise UsageError(f"registry URL {url!r}: write etcd://HOST:PORT[,HOST:PORT...].")
    return [f"http://{host}" for host in hosts]


def _read_sqlite(path: Path, realm: str) -> list[str]:
    if not path.is_file():
        raise RegistryError(
            f"There is no registry at {path}: no service has registered there yet, "
            "or SVC_REGISTRY_URL / --registry names the wrong file."
        )
    sql = "SELECT value FROM instances WHERE realm = ? AND expires_at >= ?"
    try:
        # mode=ro: listing must never create, migrate or lock the services' registry.
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = db.execute(sql, (realm, time.time())).fetchall()
        finally:
            db.close()
    except sqlite3.Error as error:
        raise RegistryError(f"Cannot read the registry at {path}: {error}.") from error
    return [str(row[0]) for row in rows]


def _read_etcd(endpoints: list[str], realm: str) -> list[str]:
    prefix = f"/services/{realm}/".encode()
    # range_end = the prefix with its last byte plus one: every key that starts with it.
    body = {"key": _b64(prefix), "range_end": _b64(prefix[:-1] + bytes([prefix[-1] + 1]))}
    failures = []
    # trust_env=False: etcd sits on the local network, never behind an outside proxy.
    with httpx.Client(timeout=_TIMEOUT, trust_env=False) as client:
        for endpoint in endpoints:
            try:
                response = client.post(f"{endpoint}/v3/kv/range", json=body)
            except httpx.HTTPError as error:
                failures.append(f"{endpoint} ({type(error).__name__})")
                continue
            if response.status_code == 200:
                return _etcd_values(response, endpoint)
            failures.append(f"{endpoint} (HTTP {response.status_code})")
    raise RegistryError(
        f"Cannot reach the etcd registry: {', '.join(failures)}. "
        "Check that etcd runs and that --registry or SVC_REGISTRY_URL names it."
    )


def _etcd_values(response: httpx.Response, endpoint: str) -> list[str]:
    try:
        kvs = response.json().get("kvs", [])  # absent, not empty, when nothing matches
        return [base64.b64decode(kv.get("value", "")).decode() for kv in kvs]
    except (ValueError, AttributeError) as error:
        raise RegistryError(f"etcd at {endpoint} answered something that is not a range.") from error


def _record(text: str, realm: str, now: datetime) -> InstanceRecord | None:
    """An entry's record, or None for an entry this svc cannot read (skipped, not fatal)."""
    try:
        value: dict[str, Any] = json.loads(text)
        return InstanceRecord(
            service=str(value["service"]),
            instance=str(value["instance"]),
            address=str(value["address"]),
            port=int(value["port"]),
            version=str(value.get("version", "")),
            started_at=str(value.get("started_at", "")),
            age_seconds=_age(str(value.get("started_at", "")), now),
            url=str(value.get("url", "")),
            realm=str(value.get("realm", realm)),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _age(started_at: str, now: datetime) -> float | None:
    try:
        started = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return max(0.0, (now - started).total_seconds())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
