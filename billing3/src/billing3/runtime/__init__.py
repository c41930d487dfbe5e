# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""The platform's part of the service: health, registry, smart client, logging, metrics, lifecycle.

The team's code uses only the names below; everything else in this package may change with
a template update.
"""

from __future__ import annotations

from .calls import ServiceError, ServiceUnavailable
from .client import RetryPolicy, ServiceNotFound, SmartClient, SyncSmartClient
from .config import PlatformSettings
from .health import Check, CheckResult, HealthChecks
from .logs import current_request_id, get_logger
from .platform import Platform, build_app, get_platform
from .server import serve

__all__ = [
    "Check",
    "CheckResult",
    "HealthChecks",
    "Platform",
    "PlatformSettings",
    "RetryPolicy",
    "ServiceError",
    "ServiceNotFound",
    "ServiceUnavailable",
    "SmartClient",
    "SyncSmartClient",
    "build_app",
    "current_request_id",
    "get_logger",
    "get_platform",
    "serve",
]
