# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Settings every service of the platform has, read from the environment.

HOST and PORT are bare (container platforms set them); everything else is `SVC_<NAME>`.
The service's own `Settings` subclasses this and sets `service_name` and the default port.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .registry import default_registry_url, open_registry


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SVC_", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    service_name: str
    host: str = Field(default="0.0.0.0", validation_alias="HOST")  # noqa: S104 - a container must listen beyond loopback
    port: int = Field(default=8000, ge=0, le=65535, validation_alias="PORT")
    realm: str = Field(default="dev", min_length=1)
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
