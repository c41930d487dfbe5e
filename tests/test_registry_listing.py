"""`svc registry ls`'s library: reading what generated services wrote, in SQLite or etcd."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from etcd_cluster import etcd_cluster, import_runtime, make_instance
from helpers import free_port

from scaffold.errors import InputError, RegistryError
from scaffold.registry import InstanceRecord, default_registry_url, list_instances

NOW = datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return import_runtime(tmp_path_factory.mktemp("runtime"))


def instance(runtime: ModuleType, service: str, name: str, realm: str = "dev", port: int = 8001) -> Any:
    return make_instance(runtime, service, name, realm=realm, port=port, version="2.0.1")


def write(runtime: ModuleType, url: str, entries: list[tuple[Any, float]]) -> None:
    """Register entries as a running service would, through the service's own backend."""

    async def go() -> None:
        registry = runtime.registry.open_registry(url)
        try:
            for entry, ttl in entries:
                await registry.register(entry, ttl)
        finally:
            await registry.aclose()

    asyncio.run(go())


def test_sqlite_lists_live_instances_of_the_realm_only(runtime: ModuleType, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'registry.db'}"
    write(
        runtime,
        url,
        [
            (instance(runtime, "orders", "orders-b", port=8002), 60),
            (instance(runtime, "billing", "billing-a", port=8003), 60),
            (instance(runtime, "orders", "orders-a", port=8001), 60),
            (instance(runtime, "orders", "orders-staging", realm="staging"), 60),
            (instance(runtime, "orders", "orders-gone"), -1),  # expired already
        ],
    )

    records = list_instances(url, "dev", now=NOW)

    assert [(r.service, r.instance) for r in records] == [
        ("billing", "billing-a"),
        ("orders", "orders-a"),
        ("orders", "orders-b"),
    ]
    assert records[1] == InstanceRecord(
        service="orders",
        instance="orders-a",
        address="127.0.0.1",
        port=8001,
        version="2.0.1",
        started_at="2026-01-01T00:00:00Z",
        age_seconds=90.0,
        url="http://127.0.0.1:8001",
        realm="dev",
    )
    assert [r.instance for r in list_instances(url, "staging")] == ["orders-staging"]
    assert list_instances(url, "prod") == []


def test_sqlite_listing_never_writes_to_the_registry(runtime: ModuleType, tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    url = f"sqlite:///{db}"
    write(runtime, url, [(instance(runtime, "orders", "orders-a"), 60)])
    before = hashlib.sha256(db.read_bytes()).hexdigest()

    list_instances(url, "dev")

    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    # A WAL reader may create the shared-memory index and an empty log, never log content.
    wal = tmp_path / "registry.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_missing_sqlite_file_is_a_registry_error_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "registry.db"
    with pytest.raises(RegistryError, match="no registry"):
        list_instances(f"sqlite:///{db}", "dev")
    assert not db.parent.exists()


def test_a_file_that_is_not_a_registry_is_a_registry_error(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    db.write_bytes(b"not a database at all" * 100)
    with pytest.raises(RegistryError):
        list_instances(f"sqlite:///{db}", "dev")


def test_bad_urls_and_realms_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        list_instances("consul://127.0.0.1:8500", "dev")
    with pytest.raises(InputError):
        list_instances("sqlite://relative/path.db", "dev")
    with pytest.raises(InputError):
        list_instances("etcd://", "dev")
    with pytest.raises(InputError):
        list_instances(f"sqlite:///{tmp_path / 'r.db'}", "dev/other")


def test_default_url_is_the_environment_else_the_local_state_file() -> None:
    assert default_registry_url({"SVC_REGISTRY_URL": "etcd://127.0.0.1:2379"}) == ("etcd://127.0.0.1:2379")
    assert default_registry_url({"XDG_STATE_HOME": "/state"}) == "sqlite:///state/svc/registry.db"


@pytest.mark.slow
def test_etcd_lists_the_realm_failing_over_to_a_live_member(runtime: ModuleType, tmp_path: Path) -> None:
    with etcd_cluster(tmp_path) as cluster:
        write(
            runtime,
            cluster.registry_url,
            [
                (instance(runtime, "orders", "orders-a"), 30),
                (instance(runtime, "identity", "identity-a", port=8010), 30),
                (instance(runtime, "orders", "orders-dev2", realm="dev2"), 30),
            ],
        )
        # The first endpoint listed has nothing listening: the next one answers.
        live = cluster.members[0].client_port
        url = f"etcd://127.0.0.1:{free_port()},127.0.0.1:{live}"

        records = list_instances(url, "dev", now=NOW)

        assert [(r.service, r.instance, r.port) for r in records] == [
            ("identity", "identity-a", 8010),
            ("orders", "orders-a", 8001),
        ]
        assert records[0].age_seconds == 90.0
        assert list_instances(url, "staging") == []


@pytest.mark.slow
def test_etcd_unreachable_is_a_registry_error() -> None:
    url = f"etcd://127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError, match="Cannot reach"):
        list_instances(url, "dev")


def test_svc_registry_ls_shows_the_realms_instances(runtime: ModuleType, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from scaffold.cli import main

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    write(
        runtime,
        url,
        [
            (instance(runtime, "billing", "billing-a", port=8003), 60),
            (instance(runtime, "identity", "identity-a", realm="staging", port=8004), 60),
        ],
    )
    table = CliRunner().invoke(main, ["registry", "ls", "--registry", url])
    assert table.exit_code == 0, table.output
    assert "billing-a" in table.output
    assert "identity" not in table.output
    as_json = CliRunner().invoke(main, ["registry", "ls", "--registry", url, "--realm", "staging", "--json"])
    assert as_json.exit_code == 0, as_json.output
    import json

    (record,) = json.loads(as_json.output)
    assert (record["service"], record["instance"], record["port"]) == ("identity", "identity-a", 8004)
    empty = CliRunner().invoke(main, ["registry", "ls", "--registry", url, "--realm", "prod"])
    assert empty.exit_code == 0
    assert "No live instances in realm 'prod'" in empty.output


def test_svc_registry_ls_and_radar_take_the_realm_from_svc_realm_unless_given(
    runtime: ModuleType, tmp_path: Path
) -> None:
    import json

    from click.testing import CliRunner

    from scaffold.cli import main

    url = f"sqlite:///{tmp_path / 'registry.db'}"
    write(
        runtime,
        url,
        [
            (instance(runtime, "billing", "billing-a", realm="staging", port=free_port()), 60),
            (instance(runtime, "identity", "identity-a", port=free_port()), 60),
        ],
    )

    def listed(*args: str, realm: str | None) -> list[str]:
        result = CliRunner().invoke(
            main, ["registry", "ls", "--registry", url, "--json", *args], env={"SVC_REALM": realm}
        )
        assert result.exit_code == 0, result.output
        return [record["instance"] for record in json.loads(result.output)]

    assert listed(realm="staging") == ["billing-a"]
    assert listed("--realm", "dev", realm="staging") == ["identity-a"]
    assert listed(realm=None) == ["identity-a"]
    radar = CliRunner().invoke(
        main, ["radar", "run", "--registry", url, "--json", "--timeout", "2"], env={"SVC_REALM": "staging"}
    )
    report = json.loads(radar.output)
    assert report["realm"] == "staging"
    assert [service["service"] for service in report["services"]] == ["billing"]


def test_svc_registry_ls_exits_2_when_the_registry_is_unreachable() -> None:
    from click.testing import CliRunner

    from scaffold.cli import main

    result = CliRunner().invoke(main, ["registry", "ls", "--registry", f"etcd://127.0.0.1:{free_port()}"])
    assert result.exit_code == 2
    assert "Cannot reach the etcd registry" in result.output
