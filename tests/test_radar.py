"""`svc radar`: generated services as real processes in a real registry, checked from outside.

billing is the built-in template rendered as it is; ledger is the same template with its
greeting broken (HTTP 500) and one endpoint that never answers, as a team might break a
service. Both are installed into their checkout's `.venv` (layered on the cached dependency
venv), started with `python -m PACKAGE` on loopback ports and registered in a SQLite
registry of the test's own. The fast tests at the end need no service at all.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from etcd_cluster import etcd_cluster, import_runtime
from helpers import free_port, wait_until
from template_support import (
    TEMPLATES_DIR,
    ServiceProcess,
    install_service,
    render_template,
    service_venv,
    start_service,
)

from scaffold.cli import main
from scaffold.errors import RegistryError
from scaffold.radar import (
    CheckResult,
    RadarExporter,
    RadarReport,
    RadarRequest,
    parse_duration,
    percentile,
    run_radar,
    watch_radar,
    write_junit,
)

SVC = Path(sys.executable).parent / "svc"
STANDARD = ["livez", "readyz", "health", "metrics"]
PATIENT_MS = 60_000

BROKEN_GREETINGS = textwrap.dedent(
    '''
    """ledger's API, broken on purpose: greetings fail, and /v1/slow never answers."""

    import asyncio

    from fastapi import APIRouter, HTTPException

    router = APIRouter(prefix="/v1")


    @router.get("/greetings/{name}")
    async def greet(name: str) -> dict[str, str]:
        raise HTTPException(status_code=500, detail="greetings are broken")


    @router.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3600)
        return {}
    '''
)

HANGING_CHECKS = textwrap.dedent(
    '''
    """Checks that hang: on an endpoint that never answers, and in the check's own code."""

    import time

    import httpx


    def test_slow_endpoint_answers(api: httpx.Client) -> None:
        assert api.get("/v1/slow").status_code == 200


    def test_check_that_never_ends(api: httpx.Client) -> None:
        time.sleep(3600)
    '''
)


@dataclass(frozen=True)
class Checkout:
    path: Path
    python: Path
    package: str


@dataclass(frozen=True)
class Realm:
    registry_url: str
    name: str
    instances: tuple[ServiceProcess, ...]


def make_checkout(root: Path, service: str) -> Checkout:
    path = render_template(TEMPLATES_DIR / "python-service", root / service, {"service_name": service})
    base = service_venv(path / "pyproject.toml")
    return Checkout(path, install_service(path, base, path / ".venv"), service.replace("-", "_"))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("radar")


@pytest.fixture(scope="module")
def registry_url(root: Path) -> str:
    return f"sqlite://{root / 'state' / 'registry.db'}"


@pytest.fixture(scope="module")
def billing(root: Path) -> Checkout:
    return make_checkout(root, "billing")


@pytest.fixture(scope="module")
def ledger(root: Path) -> Checkout:
    checkout = make_checkout(root, "ledger")
    # Broken after install: the checkout's .venv holds a built wheel, so run from the source tree.
    (checkout.path / "src" / "ledger" / "api" / "greetings.py").write_text(BROKEN_GREETINGS)
    (checkout.path / "api_checks" / "test_hanging.py").write_text(HANGING_CHECKS)
    return checkout


def start(checkout: Checkout, realm: str, registry_url: str, log: Path, **env: str) -> ServiceProcess:
    variables = {
        "SVC_REALM": realm,
        "SVC_REGISTRY_URL": registry_url,
        "SVC_DRAIN_SECONDS": "0",
        "PYTHONPATH": str(checkout.path / "src"),  # the source tree wins over the installed wheel
        **env,
    }
    return start_service(
        [str(checkout.python), "-m", checkout.package], port=free_port(), env=variables, log_path=log
    )


@pytest.fixture(scope="module")
def healthy(billing: Checkout, registry_url: str, root: Path) -> Iterator[Realm]:
    """Two billing instances, nothing else, in realm `healthy`."""
    instances = tuple(start(billing, "healthy", registry_url, root / f"billing-{n}.log") for n in (1, 2))
    try:
        yield Realm(registry_url, "healthy", instances)
    finally:
        for instance in instances:
            instance.kill()


@pytest.fixture(scope="module")
def faulty(billing: Checkout, ledger: Checkout, registry_url: str, root: Path) -> Iterator[Realm]:
    """One sound billing and one broken ledger, in realm `faulty`."""
    instances = (
        start(billing, "faulty", registry_url, root / "faulty-billing.log"),
        start(ledger, "faulty", registry_url, root / "faulty-ledger.log"),
    )
    try:
        yield Realm(registry_url, "faulty", instances)
    finally:
        for instance in instances:
            instance.kill()


def svc(command: str) -> Result:
    """Run `svc COMMAND` in-process; COMMAND is split as a shell would (test paths have no spaces).

    Radar gets a latency budget that no busy test machine misses: tests assert outcomes, not speed.
    """
    args = shlex.split(command)
    if args[0] == "radar":
        args += ["--latency-budget", str(PATIENT_MS)]
    return CliRunner().invoke(main, args)


def by_check(results: list[dict[str, Any]], check: str) -> list[dict[str, Any]]:
    return [r for r in results if r["check"] == check]


# --- real services, real registry -----------------------------------------------------------


@pytest.mark.slow
def test_run_checks_every_instance_of_the_realm_and_passes(
    healthy: Realm, billing: Checkout, tmp_path: Path
) -> None:
    junit = tmp_path / "radar.xml"

    result = svc(
        f"radar run {billing.path} --realm healthy --registry {healthy.registry_url} --json --junit {junit}"
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [service] = report["services"]
    assert service["service"] == "billing"
    assert service["availability"] == 1.0
    assert {i["url"] for i in service["instances"]} == {i.base_url for i in healthy.instances}
    assert all(i["available"] and i["failed"] == 0 for i in service["instances"])
    assert service["p50_ms"] is not None and service["p95_ms"] >= service["p50_ms"]
    for instance in service["instances"]:
        checks = [r["check"] for r in report["results"] if r["instance"] == instance["instance"]]
        assert checks[:4] == STANDARD
        assert "api:test_transactions::test_a_service_greets_itself_and_counts_it" in checks
    assert report["ok"] is True and report["failed"] == 0
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [(s.get("name"), s.get("failures")) for s in suites] == [("billing", "0")]
    assert int(suites[0].get("tests", "0")) == len(report["results"])


@pytest.mark.slow
def test_run_without_paths_runs_the_standard_checks_and_prints_a_table(healthy: Realm) -> None:
    result = svc(f"radar run --realm healthy --registry {healthy.registry_url}")

    assert result.exit_code == 0, result.output
    assert "Realm healthy" in result.stdout
    assert "2 instance(s), 8 check(s), 0 failed" in result.stdout
    for instance in healthy.instances:
        assert instance.base_url in result.stdout


@pytest.mark.slow
def test_a_failing_endpoint_is_reported_with_the_response_that_failed_it(
    faulty: Realm, billing: Checkout, ledger: Checkout
) -> None:
    paths = f"{billing.path} {ledger.path}"
    result = svc(f"radar run {paths} --realm faulty --registry {faulty.registry_url} --timeout 3 --json")

    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    ledger_results = [r for r in report["results"] if r["service"] == "ledger"]
    [greeting] = by_check(ledger_results, "api:test_endpoints::test_greeting_answers_with_a_message")
    assert not greeting["passed"]
    assert greeting["response_excerpt"].startswith("HTTP 500 GET ")
    assert "greetings are broken" in greeting["response_excerpt"]
    # The standard checks of the broken service still pass: only its greeting is broken.
    assert all(r["passed"] for r in ledger_results if r["check"] in STANDARD)
    # ... and the sound service next to it is reported sound.
    assert all(r["passed"] for r in report["results"] if r["service"] == "billing")


@pytest.mark.slow
def test_a_check_that_hangs_fails_on_its_timeout_and_the_others_still_run(
    faulty: Realm, ledger: Checkout
) -> None:
    report = run_radar(
        RadarRequest(
            realm="faulty",
            registry_url=faulty.registry_url,
            paths=(ledger.path,),
            timeout_s=3.0,
            latency_budget_ms=PATIENT_MS,
        )
    )

    ledger_results = {r.check: r for r in report.results if r.service == "ledger"}
    endpoint = ledger_results["api:test_hanging::test_slow_endpoint_answers"]
    own_code = ledger_results["api:test_hanging::test_check_that_never_ends"]
    assert not endpoint.passed and "Timeout" in endpoint.detail
    assert not own_code.passed and "did not finish within 3 s" in own_code.detail
    assert ledger_results["api:test_endpoints::test_livez_passes"].passed


@pytest.mark.slow
def test_the_text_report_shows_what_failed_and_the_answer(faulty: Realm, ledger: Checkout) -> None:
    result = svc(f"radar run {ledger.path} --realm faulty --registry {faulty.registry_url} --timeout 3")

    assert result.exit_code == 1
    assert "FAILED ledger" in result.stdout
    assert "test_greeting_answers_with_a_message" in result.stdout
    assert '{"detail":"greetings are broken"}' in result.stdout


@pytest.mark.slow
def test_an_instance_killed_between_rounds_is_reported_unavailable(
    billing: Checkout, registry_url: str, root: Path
) -> None:
    # A long TTL keeps the dead instance registered, as it is until its entry expires.
    keep = {"SVC_REGISTRY_TTL_SECONDS": "300"}
    doomed = start(billing, "killing", registry_url, root / "doomed.log", **keep)
    survivor = start(billing, "killing", registry_url, root / "survivor.log", **keep)
    rounds: list[RadarReport] = []

    def on_round(outcome: object) -> None:
        assert isinstance(outcome, RadarReport)
        rounds.append(outcome)
        doomed.kill()

    try:
        request = RadarRequest(
            realm="killing", registry_url=registry_url, paths=(billing.path,), latency_budget_ms=PATIENT_MS
        )
        watch_radar(request, 0.1, on_round, max_rounds=2)
    finally:
        doomed.kill()
        survivor.kill()

    first, second = ([i for s in r.services() for i in s.instances] for r in rounds)
    assert {i.url: i.available for i in first} == {doomed.base_url: True, survivor.base_url: True}
    assert {i.url: i.available for i in second} == {doomed.base_url: False, survivor.base_url: True}
    dead = [r for r in rounds[1].results if r.url == doomed.base_url]
    assert [r.check for r in dead] == [*STANDARD, "api"]
    assert not any(r.passed for r in dead)
    assert "unreachable" in dead[0].detail
    assert dead[-1].detail == "not run: the instance did not answer /livez"
    assert all(r.passed for r in rounds[1].results if r.url == survivor.base_url)
    assert rounds[1].services()[0].availability == 0.5


@pytest.mark.slow
def test_watch_exports_its_results_as_prometheus_metrics(healthy: Realm, tmp_path: Path) -> None:
    port = free_port()
    options = f"--every 1s --metrics-port {port} --latency-budget {PATIENT_MS}"
    command = [
        str(SVC),
        "radar",
        "watch",
        "--realm",
        "healthy",
        "--registry",
        healthy.registry_url,
        *options.split(),
    ]
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        watch = subprocess.Popen(command, stdout=stdout, stderr=stderr)
    try:
        wanted = [f'svc_radar_up{{instance="{i}",service="billing"}} 1.0' for i in _instance_ids(healthy)]
        wait_until(lambda: all(line in _scrape(port) for line in wanted), "radar metrics of every instance")
        wait_until(lambda: len(out.read_text().splitlines()) >= 2, "two rounds")
        watch.send_signal(signal.SIGINT)
        code = watch.wait(timeout=30)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()

    assert code == 130
    assert "Traceback" not in err.read_text()
    assert "Stopped after" in err.read_text()
    assert "8/8 checks passed" in out.read_text().splitlines()[0]


def _scrape(port: int) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.TransportError:
        return ""


def _instance_ids(realm: Realm) -> list[str]:
    report = run_radar(RadarRequest(realm=realm.name, registry_url=realm.registry_url))
    return [i.instance for s in report.services() for i in s.instances]


@pytest.mark.slow
def test_a_checkout_without_api_checks_is_noted_not_failed(healthy: Realm, tmp_path: Path) -> None:
    bare = tmp_path / "billing"
    bare.mkdir()
    (bare / "pyproject.toml").write_text('[project]\nname = "billing"\n')

    result = svc(f"radar run {bare} --realm healthy --registry {healthy.registry_url}")

    assert result.exit_code == 0, result.output
    assert "billing has no API checks" in result.stdout


@pytest.mark.slow
def test_a_checkout_with_no_live_instance_fails(healthy: Realm, ledger: Checkout) -> None:
    result = svc(f"radar run {ledger.path} --realm healthy --registry {healthy.registry_url} --json")

    assert result.exit_code == 1
    [missing] = by_check(json.loads(result.stdout)["results"], "api:live instances")
    assert "no live instance of ledger" in missing["detail"]


@pytest.mark.slow
def test_run_reads_an_etcd_registry_too(billing: Checkout, tmp_path: Path) -> None:
    with etcd_cluster(tmp_path / "etcd") as etcd:
        instance = start(billing, "etcd", etcd.registry_url, tmp_path / "billing.log")
        try:
            result = svc(f"radar run {billing.path} --realm etcd --registry {etcd.registry_url} --json")
        finally:
            instance.kill()

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(i["url"], i["available"]) for i in report["services"][0]["instances"]] == [
        (instance.base_url, True)
    ]
    assert report["ok"] and {r["kind"] for r in report["results"]} == {"standard", "api"}


# --- no service needed ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return import_runtime(tmp_path_factory.mktemp("runtime"))


def register_dead_instance(runtime: ModuleType, url: str, realm: str) -> str:
    """Register, as a service would, an instance whose port nothing listens on."""
    port = free_port()
    entry = runtime.registry.Instance(
        service="ghost",
        realm=realm,
        instance="ghost-1",
        address="127.0.0.1",
        port=port,
        url=f"http://127.0.0.1:{port}",
        version="1.0.0",
        started_at="2026-01-01T00:00:00Z",
    )

    async def go() -> None:
        registry = runtime.registry.open_registry(url)
        try:
            await registry.register(entry, 300)
        finally:
            await registry.aclose()

    asyncio.run(go())
    return str(entry.url)


def test_an_unreachable_instance_is_reported_not_raised(runtime: ModuleType, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'registry.db'}"
    dead_url = register_dead_instance(runtime, url, "dev")

    result = svc(f"radar run --registry {url} --json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(r["url"], r["check"], r["passed"]) for r in report["results"]] == [
        (dead_url, check, False) for check in STANDARD
    ]
    assert report["services"][0]["availability"] == 0.0
    assert "ConnectError" in report["results"][0]["detail"]


def test_watch_carries_on_when_the_registry_goes_down_and_says_so_in_its_metrics(
    runtime: ModuleType, tmp_path: Path
) -> None:
    database = tmp_path / "state" / "registry.db"
    register_dead_instance(runtime, f"sqlite://{database}", "dev")
    exporter = RadarExporter(free_port())
    seen: list[str] = []

    def on_round(outcome: RadarReport | RegistryError) -> None:
        exporter.publish(outcome)
        seen.append(_scrape(exporter.port))
        database.unlink(missing_ok=True)  # the registry is gone from the second round on

    try:
        request = RadarRequest(registry_url=f"sqlite://{database}")
        state = watch_radar(request, 0.01, on_round, max_rounds=2)
    finally:
        exporter.close()

    assert state.rounds == 2
    first, second = seen
    assert "svc_radar_registry_up 1.0" in first
    assert 'svc_radar_up{instance="ghost-1",service="ghost"} 0.0' in first
    assert "svc_radar_registry_up 0.0" in second
    assert "svc_radar_rounds_total 2.0" in second


def test_watch_stops_at_once_when_the_first_round_cannot_read_the_registry(tmp_path: Path) -> None:
    request = RadarRequest(registry_url=f"sqlite://{tmp_path / 'missing.db'}")

    with pytest.raises(RegistryError, match="There is no registry"):
        watch_radar(request, 0.01, lambda outcome: None, max_rounds=3)


def test_an_empty_realm_is_said_and_fails(runtime: ModuleType, tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'registry.db'}"
    register_dead_instance(runtime, url, "elsewhere")
    junit = tmp_path / "radar.xml"

    result = svc(f"radar run --realm dev --registry {url} --junit {junit}")

    assert result.exit_code == 1
    assert "No instances are registered in realm 'dev'" in result.stdout
    assert ET.parse(junit).getroot().get("failures") == "1"


@pytest.mark.parametrize(
    "registry",
    ["etcd://127.0.0.1:{port}", "sqlite:///{tmp}/missing/registry.db"],
    ids=["etcd-down", "sqlite-missing"],
)
def test_an_unreachable_registry_exits_2_without_a_traceback(registry: str, tmp_path: Path) -> None:
    url = registry.format(port=free_port(), tmp=tmp_path)

    done = subprocess.run(
        [str(SVC), "radar", "run", "--registry", url], capture_output=True, text=True, check=False
    )

    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_path_that_is_not_a_service_exits_2(tmp_path: Path) -> None:
    result = svc(f"radar run {tmp_path} --registry sqlite://{tmp_path / 'registry.db'}")

    assert result.exit_code == 2
    assert "not a service checkout" in result.stderr


def test_watch_refuses_a_duration_it_cannot_read(tmp_path: Path) -> None:
    result = svc(f"radar watch --every soon --registry sqlite://{tmp_path / 'r.db'}")

    assert result.exit_code == 2
    assert "not a duration" in result.stderr


@pytest.mark.parametrize(
    ("text", "seconds"), [("60s", 60), ("5m", 300), ("1h", 3600), ("1m30s", 90), ("250ms", 0.25), ("2", 2)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([7.0], 0.95)) == (50.0, 95.0, 7.0)
    assert percentile([], 0.5) is None


def test_junit_has_a_suite_per_service_and_the_failing_response(tmp_path: Path) -> None:
    excerpt = 'HTTP 503 GET http://127.0.0.1:1/readyz\n\n{"status":"fail"}'
    failing = CheckResult(
        "billing", "b-1", "http://127.0.0.1:1", "readyz", False, 503, 2.0, "HTTP 503, expected 200", excerpt
    )
    passing = CheckResult("ledger", "l-1", "http://127.0.0.1:2", "livez", True, 200, 1.0)
    report = RadarReport("dev", "sqlite:///r.db", "2026-01-01T00:00:00Z", 0.1, (failing, passing))

    write_junit(report, tmp_path / "r.xml")

    root = ET.parse(tmp_path / "r.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    [failure] = root.iter("failure")
    assert failure.get("message") == "HTTP 503, expected 200"
    assert '{"status":"fail"}' in (failure.text or "")
    assert [s.get("name") for s in root.findall("testsuite")] == ["billing", "ledger"]
