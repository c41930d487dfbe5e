# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Configuration mistakes stop the start: one line on stderr, exit 2, nothing registered."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from billing2.runtime.config import checked_settings
from billing2.runtime.registry import open_registry
from billing2.settings import Settings


def start(registry_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m billing2` as an operator starts it; it must stop by itself."""
    clean = {key: value for key, value in os.environ.items() if key != "PORT" and not key.startswith("SVC_")}
    environment = {**clean, "HOST": "127.0.0.1", "PORT": "0", "SVC_REGISTRY_URL": registry_url, **env}
    try:
        return subprocess.run(
            [sys.executable, "-m", "billing2"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the service started with a configuration mistake instead of stopping")


def registered(registry_url: str) -> int:
    return len(asyncio.run(open_registry(registry_url).list_realm("dev")))


def test_a_mistyped_svc_variable_stops_the_start_with_a_did_you_mean(registry_url: str) -> None:
    done = start(registry_url, SVC_REGSITRY_URL="etcd://127.0.0.1:2379")

    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "SVC_REGSITRY_URL" in line and "did you mean SVC_REGISTRY_URL?" in line
    assert registered(registry_url) == 0


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SVC_REALM", "Team_A", "DNS label"),
        ("PORT", "70000", "PORT"),
        ("SVC_LOG_LEVEL", "loud", "SVC_LOG_LEVEL"),
    ],
)
def test_a_bad_value_stops_the_start_with_one_line(
    registry_url: str, variable: str, value: str, named: str
) -> None:
    done = start(registry_url, **{variable: value})

    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert named in line and value in line
    assert registered(registry_url) == 0


def test_a_registry_path_it_cannot_write_stops_the_start(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")

    done = start(f"sqlite://{not_a_directory / 'registry.db'}")

    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "SVC_REGISTRY_URL" in line and "writable" in line


def test_other_svc_variables_are_left_alone(registry_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("SVC_CONFIG", "SVC_API_BASE_URL", "SVC_PORT_8000_TCP_ADDR", "SVC_SERVICE_HOST"):
        monkeypatch.setenv(variable, "x")
    # The links Kubernetes injects for a Service named `svc` are not this service's HOST and PORT.
    monkeypatch.setenv("SVC_PORT", "tcp://10.0.0.1:80")
    monkeypatch.setenv("SVC_HOST", "10.0.0.1")
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.setenv("SVC_REGISTRY_URL", registry_url)
    monkeypatch.setenv("SVC_REALM", "team-a")

    settings = checked_settings(Settings)
    assert settings.realm == "team-a"
    assert settings.port is None
    assert settings.host != "10.0.0.1"
