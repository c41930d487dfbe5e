"""Which service names svc accepts, and why a name is refused."""

from __future__ import annotations

import keyword
import re
import sys

from .errors import InputError

_DNS_LABEL = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-))*$")
MAX_LENGTH = 63

# Modules a generated service imports besides the standard library; a package named
# like one of them would shadow it and break the service at its first import.
_SERVICE_IMPORTS = frozenset(
    {
        "fastapi",
        "starlette",
        "uvicorn",
        "pydantic",
        "pydantic_settings",
        "structlog",
        "prometheus_client",
        "httpx",
        "httpcore",
        "anyio",
        "sniffio",
        "h11",
        "idna",
        "certifi",
        "click",
        "typing_extensions",
        "annotated_types",
        "yaml",
        "pytest",
        "tests",
        "pydantic_core",
        "uvloop",
        "httptools",
        "hatchling",
        "mypy",
        "ruff",
    }
)


def package_name(service_name: str) -> str:
    """The Python package of a service: its name with hyphens turned into underscores."""
    return service_name.replace("-", "_")


def validate_service_name(name: str) -> str:
    """Return `name` when it is a valid service name; raise InputError saying why not."""
    if not name:
        raise InputError("The service name is empty; give a name such as 'billing'.")
    if len(name) > MAX_LENGTH:
        raise InputError(
            f"The service name '{name[:20]}…' has {len(name)} characters; "
            f"a service name has at most {MAX_LENGTH} (it must fit in a DNS label)."
        )
    if not _DNS_LABEL.match(name) or name.endswith("-"):
        raise InputError(
            f"'{name}' is not a valid service name: use lower-case letters, digits and "
            "single hyphens, starting with a letter and not ending with a hyphen (e.g. 'billing-api')."
        )
    package = package_name(name)
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        raise InputError(f"'{name}' is a Python keyword and cannot name a package; choose another name.")
    if package in sys.stdlib_module_names or package in _SERVICE_IMPORTS:
        raise InputError(
            f"'{name}' would make a package '{package}' that shadows the Python module of the "
            "same name the service imports; choose another name, e.g. '{name}-service'.".replace(
                "{name}", name
            )
        )
    return name
