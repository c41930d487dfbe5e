"""Reading another service's OpenAPI document: from a live instance, a file, a URL or a checkout."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from ..errors import InputError
from ..registry import list_instances

FETCH_TIMEOUT = 10.0
# Imports the checkout's app and prints its OpenAPI document; run with the checkout's interpreter.
_DUMP_OPENAPI = (
    "import json, sys; from {package}.app import create_app; json.dump(create_app().openapi(), sys.stdout)"
)


@dataclass(frozen=True)
class ApiDocument:
    """A service's API description and where it was read."""

    document: dict[str, Any]
    origin: str


@dataclass(frozen=True)
class Where:
    """Where to look for a service's document: `source` (--from) if given, else the registry."""

    source: str | None
    realm: str
    registry_url: str
    trust: bool = False


def read_document(service: str, where: Where) -> ApiDocument:
    """`service`'s OpenAPI document; `InputError` (or `RegistryError`) when it cannot be had."""
    source = where.source
    if source is None:
        return _from_registry(service, where.realm, where.registry_url)
    if source.startswith(("http://", "https://")):
        return _checked(_fetch(source), f"URL {source}")
    path = Path(source)
    if path.is_dir():
        return _from_checkout(path, trust=where.trust)
    if path.is_file():
        return _checked(_parse(path.read_bytes(), str(path)), f"file {path}")
    raise InputError(f"--from {source}: no such file or folder, and not an http(s) URL.")


def _from_registry(service: str, realm: str, registry_url: str) -> ApiDocument:
    instances = [record for record in list_instances(registry_url, realm) if record.service == service]
    if not instances:
        raise InputError(
            f"no live instance of {service!r} in realm {realm!r} of {registry_url}; start one, "
            "or give its API with --from FILE, URL or CHECKOUT."
        )
    problems = []
    for record in instances:
        url = f"{record.url.rstrip('/')}/openapi.json"
        try:
            return _checked(_fetch(url), f"instance {record.instance} ({url})")
        except InputError as err:
            problems.append(str(err))
    raise InputError(f"no instance of {service!r} gave its OpenAPI document: {'; '.join(problems)}")


def _fetch(url: str) -> Any:
    try:
        response = httpx.get(url, timeout=FETCH_TIMEOUT, trust_env=False, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as err:
        raise InputError(f"cannot read {url}: {err}") from err
    return _parse(response.content, url)


def _parse(content: bytes, origin: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        pass
    try:
        return yaml.safe_load(content)
    except yaml.YAMLError as err:
        raise InputError(f"{origin} is not an OpenAPI document: it is neither JSON nor YAML.") from err


def _checked(document: Any, origin: str) -> ApiDocument:
    if not (
        isinstance(document, dict)
        and str(document.get("openapi", "")).startswith("3.")
        and isinstance(document.get("paths"), dict)
    ):
        raise InputError(f"{origin} is not an OpenAPI document (it has no 'openapi: 3.x' and 'paths').")
    return ApiDocument(document, origin)


def _from_checkout(checkout: Path, *, trust: bool) -> ApiDocument:
    """Import the checkout's app in its own interpreter and ask it for its document."""
    if not trust:
        raise InputError(
            f"reading the API of the checkout {checkout} runs its code; add --trust if you trust it."
        )
    python = next(
        (
            p
            for p in (checkout / ".venv" / "bin" / "python", checkout / "venv" / "bin" / "python")
            if p.exists()
        ),
        None,
    )
    if python is None:
        raise InputError(
            f"{checkout} has no .venv to import its code with; create one there "
            "(python -m venv .venv && .venv/bin/pip install -e .), or give a file or URL with --from."
        )
    apps = sorted(p.parent.name for p in (checkout / "src").glob("*/app.py"))
    if len(apps) != 1:
        raise InputError(
            f"{checkout} is not a service checkout: expected one src/PACKAGE/app.py, found {len(apps)}."
        )
    with tempfile.TemporaryDirectory() as scratch:
        # Its own settings only: a registry of its own, so that building the app touches nothing real.
        env = {key: value for key, value in os.environ.items() if not key.startswith("SVC_")}
        env |= {"PYTHONPATH": str(checkout / "src"), "SVC_REGISTRY_URL": f"sqlite:///{scratch}/registry.db"}
        try:
            done = subprocess.run(
                [str(python), "-c", _DUMP_OPENAPI.format(package=apps[0])],
                cwd=checkout,
                env=env,
                capture_output=True,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise InputError(
                f"importing {checkout}'s app took over {err.timeout:.0f}s; give --from a file."
            ) from err
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"])[-1]
        raise InputError(f"cannot import the app of {checkout} with {python}: {last}")
    return _checked(_parse(done.stdout, str(checkout)), f"checkout {checkout}")
