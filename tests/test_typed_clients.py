"""`svc client add/update/check`: typed clients of one generated service, written into another.

The slow test runs the whole story on real servers: identity, rendered from the built-in
template, runs registered in a SQLite registry; `svc client add identity` in billing reads its
API from that live instance; billing's own ruff and strict mypy pass over the client; and
billing's code calls identity through it. The others read the API from a file.
"""

from __future__ import annotations

import json
import signal
import sys
import textwrap
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from template_support import install_with_its_dependencies, run_checked
from test_two_services import REALM, Service, render, start

from scaffold.cli import main

# What a team's identity service might describe: operationIds in camelCase, a model, a body.
USERS_API: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "identity", "version": "1.0.0"},
    "paths": {
        "/v1/users/{user_id}": {
            "get": {
                "operationId": "getUser",
                "description": "One user.",
                "parameters": [
                    {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}},
                    }
                },
            }
        },
        "/v1/users": {
            "post": {
                "operationId": "createUser",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewUser"}}},
                },
                "responses": {
                    "201": {
                        "description": "made",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}},
                    }
                },
            },
            "get": {
                "operationId": "listUsers",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}
                            }
                        },
                    }
                },
            },
        },
    },
    "components": {
        "schemas": {
            "User": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "age": {"type": "integer"},
                },
            },
            "NewUser": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
        }
    },
}


def answers_of(output: str) -> dict[str, Any]:
    """The caller's one JSON line (its logs may surround it)."""
    line = next(line for line in reversed(output.splitlines()) if line.startswith('{"sync"'))
    result: dict[str, Any] = json.loads(line)
    return result


def svc(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("services"), "billing")


@pytest.fixture
def billing(rendered: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of a rendered billing, as the working directory."""
    import shutil

    copy = tmp_path / "billing"
    shutil.copytree(rendered, copy)
    monkeypatch.chdir(copy)
    return copy


def with_delete_user(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with one operation more, `DELETE /v1/users/{user_id}`."""
    grown = deepcopy(document)
    grown["paths"]["/v1/users/{user_id}"]["delete"] = {"operationId": "deleteUser", "responses": {"204": {}}}
    return grown


def write_api(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def test_a_client_from_a_file_has_typed_functions_named_from_operation_ids(
    billing: Path, tmp_path: Path
) -> None:
    api = write_api(tmp_path / "openapi.json", USERS_API)

    result = svc("client", "add", "identity", "--from", api)

    assert result.exit_code == 0, result.output
    module = (billing / "src/billing/clients/identity.py").read_text()
    for signature in (
        "def get_user(user_id: str, *, client: _calls.SyncSmartClient | None = None) -> User:",
        "async def get_user_async(user_id: str, *, client: _calls.SmartClient | None = None) -> User:",
        "def create_user(body: NewUser, *, client: _calls.SyncSmartClient | None = None) -> User:",
        "def list_users(*, limit: int | None = None, client: _calls.SyncSmartClient | None = None)"
        " -> list[User]:",
        "class User(BaseModel):",
    ):
        assert signature in module
    # The whole document it was made from is kept beside it.
    assert json.loads((billing / "src/billing/clients/identity.openapi.json").read_text()) == USERS_API


def test_catalog_info_gains_depends_on_and_keeps_the_rest(billing: Path, tmp_path: Path) -> None:
    before = (billing / "catalog-info.yaml").read_text()

    svc("client", "add", "identity", "--from", write_api(tmp_path / "identity.json", USERS_API))
    svc("client", "add", "ledger", "--from", write_api(tmp_path / "ledger.json", USERS_API))

    after = (billing / "catalog-info.yaml").read_text()
    assert yaml.safe_load(after)["spec"]["dependsOn"] == ["component:identity", "component:ledger"]
    assert after.startswith(before.rstrip("\n"))  # comments and layout above it untouched


def test_check_is_0_when_unchanged_and_1_naming_the_breaking_change(billing: Path, tmp_path: Path) -> None:
    api = tmp_path / "openapi.json"
    svc("client", "add", "identity", "--from", write_api(api, USERS_API))

    assert svc("client", "check", "identity", "--from", str(api)).exit_code == 0

    renamed = deepcopy(USERS_API)
    user = renamed["components"]["schemas"]["User"]
    user["properties"]["full_name"] = user["properties"].pop("name")
    result = svc("client", "check", "identity", "--from", write_api(api, renamed))
    assert result.exit_code == 1
    assert "breaks this client" in result.output
    assert "get_user: response field response.name removed (renamed to response.full_name?)" in result.output

    removed = deepcopy(USERS_API)
    del removed["paths"]["/v1/users"]["post"]
    result = svc("client", "check", "--from", write_api(api, removed), "--json")
    assert result.exit_code == 1
    [report] = json.loads(result.output)
    assert report["breaking"] is True
    assert report["comparison"]["changes"] == [
        {"breaking": True, "operation": "create_user", "what": "operation removed (POST /v1/users)"}
    ]


def test_check_names_a_new_required_request_field_and_a_changed_type(billing: Path, tmp_path: Path) -> None:
    api = tmp_path / "openapi.json"
    svc("client", "add", "identity", "--from", write_api(api, USERS_API))
    changed = deepcopy(USERS_API)
    schemas = changed["components"]["schemas"]
    schemas["NewUser"]["properties"]["email"] = {"type": "string"}
    schemas["NewUser"]["required"].append("email")
    schemas["User"]["properties"]["age"] = {"type": "string"}

    result = svc("client", "check", "identity", "--from", write_api(api, changed))

    assert result.exit_code == 1
    assert "create_user: new required request field body.email" in result.output
    assert "get_user: response field response.age changed type: integer -> string" in result.output


def test_an_added_operation_is_a_change_that_breaks_nothing(billing: Path, tmp_path: Path) -> None:
    api = tmp_path / "openapi.json"
    svc("client", "add", "identity", "--from", write_api(api, USERS_API))
    grown = with_delete_user(USERS_API)

    result = svc("client", "check", "identity", "--from", write_api(api, grown))

    assert result.exit_code == 1
    assert "does not break this client" in result.output
    assert "delete_user: operation added (DELETE /v1/users/{user_id})" in result.output


def test_update_writes_the_client_again_from_the_new_document(billing: Path, tmp_path: Path) -> None:
    api = tmp_path / "openapi.json"
    svc("client", "add", "identity", "--from", write_api(api, USERS_API))
    grown = with_delete_user(USERS_API)

    assert svc("client", "update", "identity", "--from", write_api(api, grown)).exit_code == 0

    assert "def delete_user(user_id: str" in (billing / "src/billing/clients/identity.py").read_text()
    assert svc("client", "check", "identity", "--from", str(api)).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["client", "add", "identity", "--from", "no-such-file.json"], "no such file or folder"),
        (["client", "add", "identity", "--from", "README.md"], "is not an OpenAPI document"),
        (["client", "add", "identity", "--from", "."], "runs its code; add --trust"),
        (["client", "add", "identity", "--from", ".", "--trust"], "has no .venv"),
        (["client", "add", "Not_A_Name", "--from", "README.md"], "not a valid service name"),
        (["client", "check"], "has no typed clients"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    billing: Path, args: list[str], message: str
) -> None:
    before = (billing / "catalog-info.yaml").read_text()

    result = svc(*args)

    assert result.exit_code == 2
    assert message in result.output
    assert not (billing / "src/billing/clients").exists()
    assert (billing / "catalog-info.yaml").read_text() == before


REGISTER_LEDGER = textwrap.dedent(
    """
    import asyncio, sys
    from billing.runtime.registry import Instance, open_registry

    ledger = Instance(
        service="ledger", realm=sys.argv[2], instance="ledger-1", address="127.0.0.1", port=9,
        url="http://127.0.0.1:9", version="1.0.0", started_at="2026-01-01T00:00:00Z",
    )
    asyncio.run(open_registry(sys.argv[1]).register(ledger, ttl=60))
    """
)


def test_an_unknown_name_in_the_registry_is_exit_2(billing: Path, tmp_path: Path) -> None:
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    # A registry where another service, not identity, is live.
    run_checked(
        [sys.executable, "-c", REGISTER_LEDGER, registry, REALM], env={"PYTHONPATH": str(billing / "src")}
    )

    result = svc("client", "add", "identity", "--registry", registry, "--realm", REALM)

    assert result.exit_code == 2
    assert f"no live instance of 'identity' in realm '{REALM}'" in result.output
    assert not (billing / "src/billing/clients").exists()


def test_outside_a_service_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    result = svc("client", "add", "identity", "--from", write_api(tmp_path / "api.json", USERS_API))

    assert result.exit_code == 2
    assert "is not a service made with svc's python-service template" in result.output


# --- against a live generated service ------------------------------------------------------

CALLER = textwrap.dedent(
    """
    import asyncio, json, sys

    from billing.clients.identity import Greeting, greet, greet_async
    from billing.runtime import ServiceError, ServiceUnavailable, SmartClient
    from billing.runtime.registry import open_registry

    def outcome(call):
        try:
            answer = call()
        except ServiceError as err:
            return {"error": "ServiceError", "status": err.status_code, "body": err.body}
        except ServiceUnavailable as err:
            return {"error": "ServiceUnavailable"}
        return {"type": type(answer).__name__, "message": answer.message}

    async def twin():
        async with SmartClient(open_registry(sys.argv[1]), sys.argv[2]) as client:
            return await greet_async("grace", client=client)

    print(json.dumps({
        "sync": outcome(lambda: greet("ada")),
        "async": outcome(lambda: asyncio.run(twin())),
        "refused": outcome(lambda: greet("x" * 65)),
    }))
    """
)


@pytest.fixture
def live_identity(tmp_path: Path) -> Iterator[tuple[Service, str]]:
    identity = render(tmp_path / "services", "identity")
    logs = tmp_path / "logs"
    logs.mkdir()
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    service = start(identity, "identity-1", "identity", registry_url, logs)
    try:
        yield service, registry_url
    finally:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()


@pytest.mark.slow
def test_a_client_of_a_live_service_passes_ruff_and_mypy_and_calls_it(
    live_identity: tuple[Service, str], billing: Path, tmp_path: Path
) -> None:
    identity, registry_url = live_identity

    added = svc("client", "add", "identity", "--registry", registry_url, "--realm", REALM)

    assert added.exit_code == 0, added.output
    assert "identity-1" in added.output  # read from the live instance
    assert svc("client", "check", "--registry", registry_url, "--realm", REALM).exit_code == 0

    python = install_with_its_dependencies(billing, tmp_path / "venv")
    run_checked([str(python), "-m", "ruff", "check", "--no-cache", "."], cwd=billing)
    run_checked([str(python), "-m", "ruff", "format", "--check", "--no-cache", "src"], cwd=billing)
    run_checked([str(python), "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")], cwd=billing)

    env = {"SVC_REGISTRY_URL": registry_url, "SVC_REALM": REALM}
    script = [str(python), "-c", CALLER, registry_url, REALM]
    answers = answers_of(run_checked(script, cwd=tmp_path, env=env))
    assert answers["sync"] == {"type": "Greeting", "message": "Hello, ada!"}
    assert answers["async"] == {"type": "Greeting", "message": "Hello, grace!"}
    refused = answers["refused"]
    assert (refused["error"], refused["status"]) == ("ServiceError", 422)
    assert refused["body"]["detail"][0]["loc"] == ["path", "name"]  # identity's own error body

    # Killed without deregistering: listed, but nothing answers, whatever the retries do.
    identity.process.send_signal(signal.SIGKILL)
    identity.process.wait()
    after = answers_of(run_checked(script, cwd=tmp_path, env=env))
    assert after["sync"] == {"error": "ServiceUnavailable"}


@pytest.mark.slow
def test_a_client_from_a_trusted_checkout_is_made_from_the_api_its_code_serves(
    billing: Path, tmp_path: Path
) -> None:
    # A neighbour's checkout with its own .venv, as its README tells its team to make one.
    identity = render(tmp_path / "services", "identity")
    install_with_its_dependencies(identity, identity / ".venv")

    added = svc("client", "add", "identity", "--from", str(identity), "--trust")

    assert added.exit_code == 0, added.output
    module = (billing / "src/billing/clients/identity.py").read_text()
    assert "def greet(name: str, *, client: _calls.SyncSmartClient | None = None) -> Greeting:" in module
    document = json.loads((billing / "src/billing/clients/identity.openapi.json").read_text())
    assert document["info"]["title"] == "identity"
    assert svc("client", "check", "identity", "--from", str(identity), "--trust").exit_code == 0
