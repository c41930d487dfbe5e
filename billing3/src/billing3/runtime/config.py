# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Settings every service of the platform has, read from the environment, and checked at start.

HOST and PORT are bare (container platforms set them); everything else is `SVC_<NAME>`.
The service's own `Settings` subclasses this and sets `service_name` and `default_port`.
`load_settings` turns a configuration mistake into one line on stderr and exit 2, before
the service binds a port or registers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import ClassVar, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from .envcheck import PREFIX, near_misses
from .registry import RegistryUnavailable, default_registry_url, open_registry, prepare_registry

CONFIG_ERROR = 2  # the exit status of a start refused for a configuration mistake
DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"

S = TypeVar("S", bound="PlatformSettings")


class ConfigError(Exception):
    """A setting the service cannot start with; the message is the one line to show."""


class PlatformSettings(BaseSettings):
    # HOST and PORT are read by their alias only: by name they would also be read from
    # SVC_HOST and SVC_PORT, which Kubernetes sets for a Service named `svc`.
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")
    # The port taken when PORT is unset, if it is free (else any free port).
    default_port: ClassVar[int] = 8000

    service_name: str
    host: str = Field(default="0.0.0.0", validation_alias="HOST")  # noqa: S104 - a container must listen beyond loopback
    # None: `default_port` if free, else a free port; 0: a free port.
    port: int | None = Field(default=None, ge=0, le=65535, validation_alias="PORT")
    # Part of registry keys and DNS-style names: a DNS label, so that every backend and tool takes it.
    realm: str = Field(default="dev", pattern=DNS_LABEL, max_length=63)
    registry_url: str = Field(default_factory=default_registry_url)
    registry_ttl_seconds: float = Field(default=10.0, gt=0)
    advertise_address: str | None = None
    instance_id: str | None = None
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_redact_fields: frozenset[str] = frozenset()
    shutdown_grace_seconds: float = Field(default=10.0, gt=0)
    drain_seconds: float = Field(default=3.0, ge=0)
    health_cache_seconds: float = Field(default=2.0, ge=0)
    health_check_timeout_seconds: float = Field(default=1.0, gt=0)

    @field_validator("registry_url")
    @classmethod
    def _registry_url_is_usable(cls, url: str) -> str:
        # A mistyped URL should stop the start with a message, not leave readiness warning forever.
        if not url.startswith("etcd://"):
            open_registry(url)
        return url

    @property
    def preferred_port(self) -> int:
        return self.default_port if self.port is None else self.port

    @classmethod
    def environment_names(cls) -> dict[str, str]:
        """Field name -> the environment variable that sets it."""
        return {
            name: field.validation_alias if isinstance(field.validation_alias, str) else PREFIX + name.upper()
            for name, field in cls.model_fields.items()
        }


def load_settings(cls: type[S]) -> S:
    """The settings of `cls` from the environment; on a mistake, one line on stderr and exit 2."""
    try:
        return checked_settings(cls)
    except ConfigError as error:
        service = cls.model_fields["service_name"].default
        print(f"{service}: configuration error: {error}", file=sys.stderr)
        sys.exit(CONFIG_ERROR)


def checked_settings(cls: type[S]) -> S:
    """The settings of `cls` from the environment, or `ConfigError` saying what to change."""
    names = cls.environment_names()
    misses = near_misses(os.environ, names.values())
    if misses:
        said = [f"{given} is not a setting: did you mean {near}?" for given, near in misses]
        raise ConfigError("; ".join(said))
    try:
        settings = cls()
    except ValidationError as error:
        raise ConfigError("; ".join(_describe(problem, names) for problem in error.errors())) from None
    try:
        prepare_registry(settings.registry_url)
    except (RegistryUnavailable, ValueError) as error:
        raise ConfigError(
            f"SVC_REGISTRY_URL={settings.registry_url}: {error}"
            " (set SVC_REGISTRY_URL, or XDG_STATE_HOME, to a writable place)"
        ) from None
    return settings


def _describe(problem: ErrorDetails, names: Mapping[str, str]) -> str:
    field = str(problem["loc"][0]) if problem["loc"] else "?"
    message = problem["msg"]
    if field == "realm" and problem["type"] in {"string_pattern_mismatch", "string_too_long"}:
        message = "a realm must be a DNS label (a-z, 0-9 and '-', at most 63 characters)"
    return f"{names.get(field, field)}={problem['input']!r}: {message}"
