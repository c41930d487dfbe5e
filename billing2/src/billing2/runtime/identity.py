# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Who this process is: service, realm, instance id, version and the address others reach it at."""

from __future__ import annotations

import secrets
import socket
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata

from .config import PlatformSettings
from .registry import Instance

_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - compared against, not bound


def service_version(distribution: str) -> str:
    """The installed project's version from its package metadata; "0.0.0" when not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0.0.0"


def advertised_address(settings: PlatformSettings) -> str:
    """The address to publish in the registry: explicit, else the bound host, else a guess."""
    if settings.advertise_address:
        return settings.advertise_address
    if settings.host not in _WILDCARDS:
        return settings.host
    if settings.registry_url.startswith("sqlite:"):
        # The file registry is shared by processes of one machine only: loopback reaches them all.
        return "127.0.0.1"
    try:
        # In a container or pod the host name resolves to the address peers reach.
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def make_instance(settings: PlatformSettings) -> Instance:
    """This instance, at the port it means to listen on (`on_port` sets the one it got)."""
    address = advertised_address(settings)
    instance_id = settings.instance_id or f"{settings.service_name}-{secrets.token_hex(4)}"
    return Instance(
        service=settings.service_name,
        realm=settings.realm,
        instance=instance_id,
        address=address,
        port=settings.preferred_port,
        url=_url(address, settings.preferred_port),
        version=service_version(settings.service_name),
        started_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def on_port(instance: Instance, port: int) -> Instance:
    """`instance` as reached at `port`: the one the server bound, which PORT=0 or a taken default changes."""
    return replace(instance, port=port, url=_url(instance.address, port))


def _url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}"
