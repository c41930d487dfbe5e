# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Service registry: where instances announce themselves and find each other, per realm."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from .base import Instance, RegistrationLost, Registry, RegistryUnavailable

__all__ = [
    "Instance",
    "RegistrationLost",
    "Registry",
    "RegistryUnavailable",
    "default_registry_url",
    "open_registry",
    "prepare_registry",
]


def default_registry_url() -> str:
    """`sqlite:///$XDG_STATE_HOME/svc/registry.db`, the file `svc registry ls` reads by default."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return "sqlite://" + str(Path(state_home).absolute() / "svc" / "registry.db")


def open_registry(url: str) -> Registry:
    """The backend that `url` names; no connection is made until the first call.

    `sqlite:///ABS/PATH` opens the local file registry, `etcd://HOST:PORT[,HOST:PORT...]` etcd.
    """
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        # sqlite:///abs/path and sqlite:////abs/path (a literal $XDG_STATE_HOME) mean the same file.
        if not rest.startswith("/") or not rest.strip("/"):
            raise ValueError(f"registry URL {url!r}: write sqlite:///ABSOLUTE/PATH")
        path = "/" + rest.lstrip("/")
        from .sqlite import SqliteRegistry

        return SqliteRegistry(Path(path))
    if scheme == "etcd":
        hosts = [host.strip() for host in urlsplit(url).netloc.split(",") if host.strip()]
        if not hosts:
            raise ValueError(f"registry URL {url!r}: write etcd://HOST:PORT[,HOST:PORT...]")
        # Imported here so that a service on the local registry never loads the etcd client.
        from .etcd import EtcdRegistry  # type: ignore[import-not-found, unused-ignore]

        registry: Registry = EtcdRegistry(endpoints=[f"http://{host}" for host in hosts])
        return registry
    raise ValueError(f"registry URL {url!r}: the scheme must be sqlite or etcd")


def prepare_registry(url: str) -> None:
    """Check at start that the registry `url` names can be used: a file registry is created and written.

    An unreachable etcd is not checked: the service starts and registers once etcd answers.
    Raises `ValueError` for a malformed URL, `RegistryUnavailable` for a file it cannot write.
    """
    registry = open_registry(url)
    from .sqlite import SqliteRegistry

    if isinstance(registry, SqliteRegistry):
        registry.prepare()
