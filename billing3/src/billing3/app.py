"""The application factory: the platform's app plus this service's own routes and checks."""

from __future__ import annotations

from fastapi import FastAPI

from .api import greetings
from .runtime import build_app
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = build_app(settings, title=settings.service_name, description=settings.description)
    app.state.settings = settings
    app.include_router(greetings.router)
    # Readiness checks for what this service needs, one line each (get_platform is in .runtime);
    # a check is an async function that raises when the dependency is unwell:
    #   get_platform(app).health.add_check("postgres", database.ping, component_type="datastore")
    #   get_platform(app).health.add_check("billing", billing.ping, critical=False)
    return app
