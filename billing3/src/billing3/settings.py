"""Settings of billing3, read from environment variables.

HOST and PORT are read as they are; every other setting is SVC_<FIELD NAME> (for example
SVC_GREETING). The platform's own settings (SVC_REALM, SVC_REGISTRY_URL, ...) come from
`PlatformSettings`. With PORT unset, the service listens on `default_port` if it is free and
on a free port otherwise; callers find it through the registry either way.
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import Request

from .runtime import PlatformSettings


class Settings(PlatformSettings):
    service_name: str = "billing3"
    description: str = "The billing3 service"
    default_port: ClassVar[int] = 8000

    # This service's own settings go here.
    greeting: str = "Hello"


async def get_settings(request: Request) -> Settings:
    """FastAPI dependency: the settings the app was created with (async: no trip to the thread pool)."""
    settings: Settings = request.app.state.settings
    return settings
