# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Wires the platform into a FastAPI app: logging, tracing, metrics, health, registry and lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Route

from . import calls, probes
from .client import SmartClient
from .config import PlatformSettings
from .health import HealthChecks
from .identity import make_instance, on_port
from .logs import configure_logging, get_logger
from .metrics import HttpMetrics, metrics_endpoint
from .middleware import RequestTelemetry
from .redaction import secret_fields
from .registrar import Registrar
from .registry import Instance, open_registry
from .tracing import configure_tracing, flush_traces

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]
PLATFORM_ROUTES = ("/livez", "/readyz", "/health", "/metrics")

log = get_logger(__name__)


class Platform:
    """The platform's parts of one running app; reach it as `get_platform(app)`."""

    def __init__(self, settings: PlatformSettings, instance: Instance) -> None:
        self.settings = settings
        self.instance = instance
        self.metrics = HttpMetrics(service=instance.service, version=instance.version)
        self.health = HealthChecks(
            cache_seconds=settings.health_cache_seconds,
            default_timeout=settings.health_check_timeout_seconds,
        )
        self.registry = open_registry(settings.registry_url)
        self.registrar = Registrar(
            self.registry, instance, ttl=settings.registry_ttl_seconds, readiness=self._not_ready
        )
        # One smart client per app: its instance cache and retry budget are shared by all calls.
        self.client = SmartClient(
            self.registry,
            settings.realm,
            metrics_registry=self.metrics.registry,
            user_agent=f"{instance.service}/{instance.version}",
            traffic_log=settings.traffic_log,
        )
        # Not critical: a registry outage must not take every instance out of its load balancer.
        self.health.add_check(
            "registry",
            self.registrar.check,
            critical=False,
            component_type="system",
            measurement="heartbeatAge",
            unit="s",
        )
        self.draining = False

    def listening_on(self, port: int) -> None:
        """Record the port the server bound (`serve` calls this before the app starts)."""
        self.instance = self.registrar.instance = on_port(self.instance, port)

    async def announce(self) -> None:
        """Start registering: the app's startup is done (and, under `serve`, its socket listens).

        From shutdown on, it does nothing.
        """
        if self.draining:
            return
        log.info("starting", url=self.instance.url, registry=self.settings.registry_url)
        self.registrar.start()
        await self.registrar.first_attempt(wait_s=2.0)
        # The registrar asked readiness before registering: those results say "not registered yet".
        self.health.forget()

    async def _not_ready(self) -> str | None:
        """Why this instance should get no traffic now, or None: what /readyz answers, for the registrar."""
        if self.draining:
            return "shutting down"
        failing = [f"{r.name}: {r.output}" for r in await self.health.results() if r.status == "fail"]
        return "; ".join(failing) or None

    async def begin_shutdown(self) -> None:
        """Fail readiness, stop heartbeats, deregister. Idempotent; runs on the first SIGTERM."""
        if not self.draining:
            log.info("shutdown_started")
        self.draining = True
        await self.registrar.stop(deregister_within_s=min(2.0, self.settings.shutdown_grace_seconds / 4))

    async def close(self) -> None:
        await self.begin_shutdown()
        await self.client.aclose()
        await self.registry.aclose()
        self.metrics.close()
        flush_traces()


def get_platform(app: FastAPI) -> Platform:
    platform: Platform = app.state.platform
    return platform


def build_app(
    settings: PlatformSettings, *, lifespan: Lifespan | None = None, **fastapi_options: Any
) -> FastAPI:
    """A FastAPI app with the platform installed; `lifespan`, the team's own, runs inside the platform's."""
    instance = make_instance(settings)
    configure_logging(
        log_format=settings.log_format,
        level=settings.log_level,
        static={
            "service": instance.service,
            "realm": instance.realm,
            "version": instance.version,
            "instance": instance.instance,
        },
        redact={*settings.log_redact_fields, *secret_fields(type(settings))},
    )
    configure_tracing(
        {
            "service.name": instance.service,
            "service.version": instance.version,
            "service.instance.id": instance.instance,
            "deployment.environment.name": instance.realm,
        }
    )
    platform = Platform(settings, instance)
    fastapi_options.setdefault("version", instance.version)
    fastapi_options.setdefault("generate_unique_id_function", operation_id)
    # The platform's middleware makes each request's span (its log line names it) and its metrics;
    # FastAPI's own would be a second server span per request, and one per probe. Switched off
    # one by one, FastAPI still looks for OpenTelemetry providers on every request.
    fastapi_options.setdefault("telemetry", {"tracing": False, "metrics": False, "logs": False})
    app = FastAPI(lifespan=_platform_lifespan(platform, lifespan), **fastapi_options)
    app.state.platform = platform
    endpoints = (
        ("/livez", probes.livez),
        ("/readyz", probes.readyz),
        ("/health", probes.health),
        ("/metrics", metrics_endpoint),
    )
    app.add_middleware(
        probes.PlatformEndpoints, routes=[Route(path, endpoint) for path, endpoint in endpoints]
    )
    app.add_middleware(RequestTelemetry, metrics=platform.metrics, quiet_routes=PLATFORM_ROUTES)
    return app


def operation_id(route: APIRoute) -> str:
    """A route's operationId in the OpenAPI document: its function's name, so `svc client add` names it so."""
    return route.name


def _platform_lifespan(platform: Platform, inner: Lifespan | None) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        try:
            async with inner(app) if inner is not None else nullcontext() as state:
                # After the team's startup code: an instance is listed only once it can serve.
                await platform.announce()
                calls.use_platform_client(platform.client)
                yield state
        finally:
            calls.use_platform_client(None)
            await platform.close()

    return lifespan
