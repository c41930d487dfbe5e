# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""What every registry backend stores and promises: the `Instance` record and the `Registry` protocol."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol


class RegistryUnavailable(Exception):
    """The backend could not reach its store; the caller retries later."""


class RegistrationLost(Exception):
    """The instance's entry or lease is gone (expired or deleted); the caller registers again."""


@dataclass(frozen=True)
class Instance:
    """One running process of a service, as the registry stores it.

    The JSON form is the registry value shared with every service version and with
    `svc registry ls`: keep its keys, add new ones only.
    """

    service: str
    realm: str
    instance: str
    address: str
    port: int
    url: str
    version: str
    started_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Instance:
        data: dict[str, Any] = json.loads(text)
        # Newer writers may add keys; a reader takes what it knows.
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["port"] = int(values["port"])
        return cls(**values)

    @property
    def key(self) -> str:
        return f"/services/{self.realm}/{self.service}/{self.instance}"


class Registry(Protocol):
    """A registry backend. Every method raises `RegistryUnavailable` when its store cannot be reached."""

    async def register(self, instance: Instance, ttl: float) -> None:
        """Create or replace the entry; it expires `ttl` seconds from now unless renewed."""

    async def heartbeat(self, instance: Instance, ttl: float) -> None:
        """Push the expiry `ttl` seconds ahead; raise `RegistrationLost` if the entry is gone."""

    async def deregister(self, instance: Instance) -> None:
        """Remove the entry now; removing an absent entry is not an error."""

    async def lookup(self, realm: str, service: str) -> list[Instance]:
        """Live instances of one service in one realm."""

    async def list_realm(self, realm: str) -> list[Instance]:
        """Live instances of every service in one realm."""

    async def aclose(self) -> None:
        """Release connections; the registry is not used afterwards."""
