"""The service registry that generated services write, as svc reads it: who is live in a realm.

Every backend holds the same entries, keyed ``/services/<realm>/<service>/<instance>``,
each a JSON object with at least ``service, realm, instance, address, port, url, version,
started_at``. A backend is one module here with one function, reading a realm's live
entries as JSON texts, registered by its URL scheme in ``BACKENDS``: ``sqlite`` (the local
default) and ``etcd``. (The services' own side, which writes the entries, is the built-in
template's ``runtime/registry.py``.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import etcd, sqlite

DEFAULT_REALM = "dev"
# URL scheme -> a function reading the JSON entries of a realm's live instances.
BACKENDS: dict[str, Callable[[str, str], list[str]]] = {"sqlite": sqlite.read, "etcd": etcd.read}


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

    Raises ``RegistryError`` when the registry cannot be reached or read, ``InputError``
    for a URL or realm that cannot name one.
    """
    if not realm or "/" in realm:
        raise InputError(f"{realm!r} is not a realm name; a realm is a word such as dev or prod.")
    scheme = url.partition("://")[0]
    if scheme not in BACKENDS:
        raise InputError(
            f"registry URL {url!r} is not one svc knows; "
            "write sqlite:///PATH or etcd://HOST:PORT[,HOST:PORT...]."
        )
    values = BACKENDS[scheme](url, realm)
    current = now or datetime.now(UTC)
    records = [record for value in values if (record := _record(value, realm, current))]
    return sorted(records, key=lambda r: (r.service, r.instance))


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
