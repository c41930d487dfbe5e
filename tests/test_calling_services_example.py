"""The example of docs/calling-services.md, run as the page tells it, against real servers.

The route files are read out of the page itself (its fenced blocks with a `title` naming a
file), and every command the test runs is checked to be on the page, so the page and the
test cannot drift apart. What the test does differently, and only that: its own directory
stands for /tmp, free ports for 8000 and 8001, a SQLite registry of its own for the local one
(`SVC_REGISTRY_URL`), an OTLP/HTTP receiver inside the test for the tracing backend, and each
service is installed as a wheel (on a cached venv of its lock file) once its code is written,
instead of `pip install -e .` before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from helpers import free_port, wait_until
from otlp_receiver import OtlpReceiver, Span, request_line
from template_support import (
    REPO_ROOT,
    install_with_its_dependencies,
    run_checked,
    running_service,
)

from scaffold.cli import main
from scaffold.errors import RegistryError
from scaffold.registry import list_instances

pytestmark = pytest.mark.slow

# A block the test writes: ```{ .python title="identity/src/identity/api/users.py" }
_FILE_BLOCK = re.compile(r'^```\{ \.python title="(?P<path>[^"]+)" \}\n(?P<code>.*?)^```$', re.M | re.S)


@dataclass(frozen=True)
class Page:
    text: str

    def files(self) -> dict[str, str]:
        """The files the page gives in full, by path from the directory both services are in."""
        return {match["path"]: match["code"] for match in _FILE_BLOCK.finditer(self.text)}

    def says(self, snippet: str) -> str:
        assert snippet in self.text, f"docs/calling-services.md no longer says {snippet!r}"
        return snippet


@pytest.fixture
def page() -> Page:
    return Page((REPO_ROOT / "docs" / "calling-services.md").read_text())


def svc(page: Page, command: str, *extra: str, tmp: Path) -> str:
    """Run `command`, a command of the page, as svc, with `tmp` for /tmp and `extra` arguments; its output."""
    page.says(f"$ {command}")
    args = command.replace("/tmp/", f"{tmp}/").split()[1:]
    # As wide as a terminal that shows `svc traffic`'s table unwrapped.
    result = CliRunner().invoke(main, [*args, *extra], env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def write_files(page: Page, root: Path, service: str) -> None:
    files = {path: code for path, code in page.files().items() if path.startswith(f"{service}/")}
    assert files, f"the page gives no file of {service}"
    for path, code in files.items():
        (root / path).write_text(code)


def include_router(page: Page, project: Path, module: str) -> None:
    """Include api/<module>.py's router in create_app(), with the two lines the page gives."""
    app = project / "src" / project.name / "app.py"
    before = app.read_text()
    imports = page.says(f"from .api import greetings, {module}")
    include = page.says(f"app.include_router({module}.router)")
    edited = before.replace("from .api import greetings\n", f"{imports}\n").replace(
        "    app.include_router(greetings.router)\n",
        f"    app.include_router(greetings.router)\n    {include}\n",
    )
    assert edited.count(module) == before.count(module) + 2, (
        f"the template's app.py changed; the page's edit no longer fits:\n{before}"
    )
    app.write_text(edited)


def install(project: Path, venvs: Path) -> str:
    """Install `project` in a venv of its own, and check the page's code with the service's own ruff
    and strict mypy, as its CI would."""
    venv = venvs / project.name
    python = install_with_its_dependencies(project, venv)
    run_checked([str(python), "-m", "ruff", "check", "--no-cache", "src"], cwd=project)
    run_checked([str(python), "-m", "ruff", "format", "--check", "--no-cache", "src"], cwd=project)
    run_checked([str(python), "-m", "mypy", "--cache-dir", str(venv / "mypy-cache")], cwd=project)
    return str(python)


def registered(registry_url: str, service: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return any(i.service == service for i in list_instances(registry_url))
        except RegistryError:  # no service has created the registry file yet
            return False

    return check


def trace_of(receiver: OtlpReceiver, root_name: str, size: int) -> dict[tuple[str, str], Span]:
    """The spans of the trace whose root span is `root_name`, by service and kind, once `size` are in."""
    roots = [span for span in receiver.spans if span.name == root_name and span.parent_id == ""]
    if len(roots) != 1:
        return {}
    trace = {(span.service, span.kind): span for span in receiver.spans if span.trace_id == roots[0].trace_id}
    return trace if len(trace) == size else {}


def test_the_calling_services_page_runs_as_written(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: OtlpReceiver
) -> None:
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("SVC_REGISTRY_URL", registry_url)
    page.says("$ export OTEL_EXPORTER_OTLP_ENDPOINT=")  # the test's receiver stands for the backend
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    # Spans leave in batches: a short delay brings them to the receiver while the test waits.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    monkeypatch.chdir(tmp_path)
    venvs = tmp_path / "venvs"
    svc(page, "svc new identity --defaults", tmp=tmp_path)
    svc(page, "svc new billing --defaults", tmp=tmp_path)
    identity_dir, billing_dir = tmp_path / "identity", tmp_path / "billing"

    write_files(page, tmp_path, "identity")
    include_router(page, identity_dir, "users")
    identity_python = install(identity_dir, venvs)
    page.says("$ .venv/bin/python -m identity > /tmp/identity.log &")
    with running_service(
        [identity_python, "-m", "identity"],
        port=free_port(),
        env={},
        log_path=tmp_path / "identity.log",
        cwd=identity_dir,
    ) as identity:
        wait_until(registered(registry_url, "identity"), "identity to register")

        monkeypatch.chdir(billing_dir)
        added = svc(page, "svc client add identity", tmp=tmp_path)
        assert page.says("functions: greet, get_user (each with an _async twin)") in added
        write_files(page, tmp_path, "billing")
        include_router(page, billing_dir, "invoices")
        billing_python = install(billing_dir, venvs)
        traffic_log = tmp_path / "billing.har"
        page.says(
            "SVC_TRAFFIC_LOG=/tmp/billing.har PORT=8001 .venv/bin/python -m billing > /tmp/billing.log &"
        )
        with running_service(
            [billing_python, "-m", "billing"],
            port=free_port(),
            env={"SVC_TRAFFIC_LOG": str(traffic_log)},
            log_path=tmp_path / "billing.log",
            cwd=billing_dir,
        ) as billing:
            page.says("$ curl localhost:8001/v1/invoices/42")
            answer = httpx.get(f"{billing.base_url}/v1/invoices/42", trust_env=False)

            # The typed call answered with identity's data.
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"user_id": "42", "billed_to": "Ada Lovelace", "amount_cents": 1200}
            page.says(f"\n{answer.text}\n")

            # One trace: billing's request its root, the typed call its child, identity's request the call's.
            trace = wait_until(
                lambda: trace_of(receiver, "GET /v1/invoices/{user_id}", 3),
                what="billing's and identity's spans of the call at the OTLP receiver",
                timeout=20,
            )
            billing_server, billing_client = trace["billing", "SERVER"], trace["billing", "CLIENT"]
            identity_server = trace["identity", "SERVER"]
            assert billing_client.parent_id == billing_server.span_id
            assert identity_server.name == "GET /v1/users/{user_id}"
            assert identity_server.parent_id == billing_client.span_id

            # Both services' log lines of the request carry that trace id.
            page.says("$ grep -h request_finished /tmp/billing.log /tmp/identity.log")
            billing_line = wait_until(
                lambda: request_line(billing.log_lines(), "/v1/invoices/42"), what="billing's line"
            )
            identity_line = wait_until(
                lambda: request_line(identity.log_lines(), "/v1/users/42"), what="identity's line"
            )
            assert billing_line["trace_id"] == identity_line["trace_id"] == billing_server.trace_id
            assert billing_line["span_id"] == billing_server.span_id
            assert identity_line["span_id"] == identity_server.span_id

        # billing's traffic log lists the call to identity.
        table = svc(page, "svc traffic /tmp/billing.har", tmp=tmp_path)
        assert f"{identity.base_url}/v1/users/42" in table
        [call] = json.loads(svc(page, "svc traffic /tmp/billing.har", "--json", tmp=tmp_path))
        assert (call["method"], call["url"], call["status"]) == (
            "GET",
            f"{identity.base_url}/v1/users/42",
            200,
        )
        assert call["instance"].rsplit("/", 1)[-1] == identity_line["instance"]
