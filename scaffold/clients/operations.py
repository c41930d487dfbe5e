"""The operations of an OpenAPI document, as a typed client sees them: names, parameters, answers."""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Names the generated functions use themselves, besides the operation's parameters.
RESERVED = frozenset({"client", "body"})
SUCCESS_STATUSES = ("200", "201", "202", "203", "204", "206")


@dataclass(frozen=True)
class Parameter:
    name: str  # as the service knows it
    python_name: str
    location: str  # path, query or header
    required: bool
    schema: dict[str, Any]


@dataclass(frozen=True)
class Operation:
    name: str  # the Python function's name (snake_case operationId)
    operation_id: str | None
    method: str  # upper case
    path: str
    summary: str
    parameters: tuple[Parameter, ...]
    body: dict[str, Any] | None  # the JSON request body's schema
    body_required: bool
    returns: dict[str, Any] | None  # the JSON schema of the success answer; None: no content

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def snake_case(text: str) -> str:
    """`getUser` -> `get_user`, `list-users` -> `list_users`; a valid, non-keyword identifier."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    words = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", words)
    name = re.sub(r"[^0-9a-zA-Z]+", "_", words).strip("_").lower() or "operation"
    if name[0].isdigit():
        name = f"op_{name}"
    return f"{name}_" if keyword.iskeyword(name) else name


def read_operations(document: dict[str, Any]) -> list[Operation]:
    """Every operation of `document`, named by operationId (else by method and path, or if shared)."""
    found = list(_raw_operations(document))
    ids = [op.get("operationId") for _, _, op in found]
    names: set[str] = set()
    operations = []
    for method, path, raw in found:
        operation_id = raw.get("operationId")
        name = snake_case(operation_id) if operation_id and ids.count(operation_id) == 1 else ""
        if not name or name in names:
            name = snake_case(f"{method}_{path}")
        names.add(name)
        operations.append(_operation(document, name, method, path, raw))
    return operations


def _raw_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in sorted((document.get("paths") or {}).items()):
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            if isinstance(item.get(method), dict):
                yield method, path, {**item[method], "_shared": item.get("parameters") or []}


def _operation(document: dict[str, Any], name: str, method: str, path: str, raw: dict[str, Any]) -> Operation:
    body_schema, body_required = _body(document, raw)
    return Operation(
        name=name,
        operation_id=raw.get("operationId"),
        method=method.upper(),
        path=path,
        summary=str(raw.get("description") or raw.get("summary") or ""),
        parameters=_parameters(document, path, raw),
        body=body_schema,
        body_required=body_required,
        returns=_returns(document, raw),
    )


def _parameters(document: dict[str, Any], path: str, raw: dict[str, Any]) -> tuple[Parameter, ...]:
    # A path's variables are arguments even where the document forgets to declare them.
    by_key: dict[tuple[str, str], dict[str, Any]] = {
        ("path", name): {"name": name, "in": "path", "schema": {"type": "string"}}
        for name in re.findall(r"{([^}]+)}", path)
    }
    for item in [*raw["_shared"], *(raw.get("parameters") or [])]:
        resolved = resolve(document, item)
        if resolved.get("in") in {"path", "query", "header"}:
            by_key[(resolved["in"], resolved["name"])] = resolved
    taken = set(RESERVED)
    parameters = []
    for (location, name), item in by_key.items():
        python_name = snake_case(name)
        while python_name in taken:
            python_name = f"{python_name}_{location}"
        taken.add(python_name)
        required = bool(item.get("required")) or location == "path"
        parameters.append(Parameter(name, python_name, location, required, item.get("schema") or {}))
    # Required ones first: they become positional arguments.
    return tuple(sorted(parameters, key=lambda p: not p.required))


def _body(document: dict[str, Any], raw: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    body = resolve(document, raw.get("requestBody") or {})
    schema = _json_schema(body.get("content"))
    return schema, bool(body.get("required")) and schema is not None


def _returns(document: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any] | None:
    responses = raw.get("responses") or {}
    for status in (*SUCCESS_STATUSES, "2XX", "default"):
        if status in responses:
            return _json_schema(resolve(document, responses[status]).get("content"))
    return None


def _json_schema(content: Any) -> dict[str, Any] | None:
    if not isinstance(content, dict):
        return None
    for media_type, entry in content.items():
        if media_type.split(";")[0].strip().endswith("json") and isinstance(entry, dict):
            schema = entry.get("schema")
            return schema if isinstance(schema, dict) else {}
    return None


def resolve(document: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """`item`, or what its local `$ref` (`#/components/...`) points at."""
    seen = set()
    while isinstance(item, dict) and "$ref" in item and item["$ref"] not in seen:
        seen.add(item["$ref"])
        target: Any = document
        for part in str(item["$ref"]).removeprefix("#/").split("/"):
            target = (
                target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
            )
        item = target
    return item if isinstance(item, dict) else {}
