"""The etcd registry: the keys under ``/services/<realm>/``, read through etcd's v3 JSON
gateway (keys and values base64, int64 fields as strings, ``kvs`` absent when nothing
matches). Every key is bound to a lease, so every key is live. Members are tried in turn
until one answers."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import httpx

from ..errors import InputError, RegistryError

_TIMEOUT = httpx.Timeout(3.0, connect=1.0)


def read(url: str, realm: str) -> list[str]:
    """The entries of ``realm``'s live instances in the registry ``etcd://HOST:PORT[,...]``."""
    return _read_etcd(_etcd_endpoints(url), realm)


def _etcd_endpoints(url: str) -> list[str]:
    hosts = [host.strip() for host in urlsplit(url).netloc.split(",") if host.strip()]
    if not hosts:
        raise InputError(f"registry URL {url!r}: write etcd://HOST:PORT[,HOST:PORT...].")
    return [f"http://{host}" for host in hosts]


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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
