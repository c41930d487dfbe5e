"""Typed clients of other services, written into a service: `svc client add`, `update` and `check`.

A client of NAME lives in the service at ``src/<package>/clients/<name_as_module>.py``, beside
``<name_as_module>.openapi.json``, the whole document it was made from (what `check` compares
against). ``document`` reads NAME's OpenAPI document, ``generate`` writes the module,
``compare`` says what changed, ``catalog`` records the dependency in catalog-info.yaml.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..names import package_name, validate_service_name
from .catalog import with_dependency
from .compare import Comparison, compare
from .document import Where, read_document
from .generate import client_module
from .operations import read_operations

__all__ = ["ClientReport", "Where", "Written", "add_client", "check_clients", "update_client"]

DOCUMENT_SUFFIX = ".openapi.json"
CATALOG = "catalog-info.yaml"
_PACKAGE_DOC = '"""Typed clients of other services, written by `svc client add NAME`."""\n'


@dataclass(frozen=True)
class Written:
    """A client written into the service."""

    service: str
    module: Path
    document: Path
    functions: list[str]
    origin: str


@dataclass(frozen=True)
class ClientReport:
    """What `check` found for one client."""

    service: str
    origin: str
    comparison: Comparison


@dataclass(frozen=True)
class _Checkout:
    """The service that the clients are written into."""

    root: Path
    package: str

    @property
    def clients(self) -> Path:
        return self.root / "src" / self.package / "clients"

    def module(self, service: str) -> Path:
        return self.clients / f"{package_name(service)}.py"

    def document(self, service: str) -> Path:
        return self.clients / f"{package_name(service)}{DOCUMENT_SUFFIX}"

    def services(self) -> list[str]:
        """The services this one has clients of."""
        found = self.clients.glob(f"*{DOCUMENT_SUFFIX}")
        return sorted(p.name.removesuffix(DOCUMENT_SUFFIX).replace("_", "-") for p in found)


def add_client(root: Path, service: str, where: Where) -> Written:
    """Write a new client of `service` into the service at `root`."""
    checkout = _find_service(root)
    validate_service_name(service)
    if checkout.document(service).exists():
        raise InputError(f"this service has a client of {service} already; `svc client update {service}`.")
    return _write_client(checkout, service, where)


def update_client(root: Path, service: str, where: Where) -> Written:
    """Write the client of `service` again, from the service's document as it is now."""
    checkout = _find_service(root)
    validate_service_name(service)
    if not checkout.document(service).exists():
        raise InputError(f"this service has no client of {service}; `svc client add {service}` writes one.")
    return _write_client(checkout, service, where)


def check_clients(root: Path, service: str | None, where: Where) -> list[ClientReport]:
    """Compare each client's recorded document (or `service`'s) with the service's current one."""
    checkout = _find_service(root)
    services = [validate_service_name(service)] if service else checkout.services()
    if service and not checkout.document(service).exists():
        raise InputError(f"this service has no client of {service}; `svc client add {service}` writes one.")
    if not services:
        raise InputError("this service has no typed clients; `svc client add NAME` writes one.")
    if where.source is not None and len(services) > 1:
        raise InputError("--from names one service's API: say which client to check (svc client check NAME).")
    reports = []
    for name in services:
        recorded = _recorded(checkout.document(name))
        current = read_document(name, where)
        reports.append(ClientReport(name, current.origin, compare(recorded, current.document)))
    return reports


def _find_service(root: Path) -> _Checkout:
    packages = sorted(p.parent.parent.name for p in root.glob("src/*/runtime/calls.py"))
    if len(packages) == 1 and (root / CATALOG).is_file():
        return _Checkout(root.resolve(), packages[0])
    if len(packages) > 1:
        raise InputError(
            f"{root} holds several platform packages ({', '.join(packages)}); svc cannot tell which."
        )
    if any(root.glob("src/*/runtime/client.py")):
        raise InputError(
            f"{root}'s platform code predates typed clients; bring it up to date with `svc update` first."
        )
    raise InputError(
        f"{root.resolve()} is not a service made with svc's python-service template "
        f"(no src/PACKAGE/runtime/ and {CATALOG}); run this in the service's folder."
    )


def _recorded(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{path} cannot be read ({err}); `svc client update` writes it again.") from err
    if not isinstance(document, dict):
        raise InputError(f"{path} is not an OpenAPI document; `svc client update` writes it again.")
    return document


def _write_client(checkout: _Checkout, service: str, where: Where) -> Written:
    # Everything is made before anything is written: a failure leaves the service as it was.
    fetched = read_document(service, where)
    document_path, module_path = checkout.document(service), checkout.module(service)
    files = {
        module_path: client_module(service, fetched.document, document_path.name),
        document_path: json.dumps(fetched.document, indent=2, sort_keys=False) + "\n",
        checkout.root / CATALOG: with_dependency((checkout.root / CATALOG).read_text(), service),
    }
    if not (checkout.clients / "__init__.py").exists():
        files[checkout.clients / "__init__.py"] = _PACKAGE_DOC
    _write_all(files)
    functions = [op.name for op in read_operations(fetched.document)]
    return Written(service, module_path, document_path, functions, fetched.origin)


def _write_all(files: dict[Path, str]) -> None:
    """Write every file or none: each goes to a temporary file first, then all are moved in place."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            temporary = Path(name)
            with os.fdopen(handle, "w") as out:
                out.write(text)
            # mkstemp's file is private (0600); the file it replaces keeps its mode.
            temporary.chmod(path.stat().st_mode & 0o777 if path.exists() else 0o644)
            staged.append((temporary, path))
    except BaseException:
        for staged_file, _ in staged:
            staged_file.unlink(missing_ok=True)
        raise
    for staged_file, target in staged:
        staged_file.replace(target)
