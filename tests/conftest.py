"""Fixtures shared by the whole suite: an isolated git and HOME for every test, an OTLP receiver."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from otlp_receiver import OtlpReceiver, otlp_receiver
from update_support import FORMATS


@pytest.fixture(autouse=True, scope="session")
def _isolated_git(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Give git a fixed identity and no user or system config, as a fresh CI machine has."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text('[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n')
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Author",
        "GIT_COMMITTER_EMAIL": "author@example.com",
    }
    os.environ.update(env)
    for var in ("SVC_CONFIG", "SVC_REGISTRY_URL", "SVC_REALM"):
        os.environ.pop(var, None)


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    """Run a test once for each template format svc supports."""
    return str(request.param)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP trace receiver: point OTEL_EXPORTER_OTLP_ENDPOINT at its `endpoint`."""
    with otlp_receiver() as running:
        yield running
