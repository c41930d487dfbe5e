"""How the API checks reach billing2; the checks themselves are the test_*.py files here.

`api` (an httpx.Client) and `latency_budget_ms` come from the platform (runtime/apicheck.py):
with SVC_API_BASE_URL set they call that running instance, otherwise the app below, in-process.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from billing2.app import create_app
from billing2.runtime.apicheck import api, latency_budget_ms, pytest_runtest_makereport
from billing2.settings import Settings

__all__ = ["api", "api_app", "latency_budget_ms", "pytest_runtest_makereport"]


@pytest.fixture
def api_app(tmp_path: Path) -> FastAPI:
    """The app checked in-process: a registry file of its own, so no real realm sees it."""
    registry_url = f"sqlite://{tmp_path / 'registry.db'}"
    return create_app(Settings(realm="api-checks", registry_url=registry_url, health_cache_seconds=0))
