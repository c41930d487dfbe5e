"""Fixtures: an app with a registry file of its own, and a client that runs the app's lifespan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from billing2.app import create_app
from billing2.settings import Settings


@pytest.fixture
def registry_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'registry.db'}"


@pytest.fixture
def settings(registry_url: str) -> Settings:
    return Settings(realm="test", registry_url=registry_url, health_cache_seconds=0)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client
