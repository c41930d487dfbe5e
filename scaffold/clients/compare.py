"""What changed between the API document a client was made from and the service's current one.

A change breaks the client when code written against the old document can fail against the
new one: an operation it calls is gone (or moved), a response field it reads is gone (removed
or renamed), a request needs a field or parameter it does not send, or a type changed.
Added operations, added response fields and new optional inputs are changes that break nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .operations import Operation, Parameter, read_operations, resolve

# Parts of a document that say nothing about how to call the service.
_NOT_API = ("info", "servers", "tags", "externalDocs")
_MAX_DEPTH = 8


@dataclass(frozen=True)
class Change:
    breaking: bool
    operation: str  # the client function's name, or "" for the document as a whole
    what: str


@dataclass(frozen=True)
class Comparison:
    changed: bool
    changes: list[Change] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return any(change.breaking for change in self.changes)


@dataclass(frozen=True)
class _Field:
    type: str
    required: bool


def compare(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    if _api(old) == _api(new):
        return Comparison(changed=False)
    changes = _operation_changes(old, new)
    if not changes:
        changes = [Change(False, "", "descriptions or other details changed; no operation's shape did")]
    return Comparison(changed=True, changes=changes)


def _api(document: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in document.items() if k not in _NOT_API}, sort_keys=True)


def _operation_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    before = {op.key: op for op in read_operations(old)}
    after = {op.key: op for op in read_operations(new)}
    by_id = {op.operation_id: op for op in after.values() if op.operation_id}
    changes = []
    for key, op in before.items():
        if key in after:
            changes += _changes_within(old, new, op, after[key])
        elif op.operation_id in by_id:
            changes.append(
                Change(True, op.name, f"operation moved from {key} to {by_id[op.operation_id].key}")
            )
        else:
            changes.append(Change(True, op.name, f"operation removed ({key})"))
    moved_ids = {op.operation_id for op in before.values()}
    for key, op in after.items():
        if key not in before and op.operation_id not in moved_ids:
            changes.append(Change(False, op.name, f"operation added ({key})"))
    return changes


def _changes_within(
    old_doc: dict[str, Any], new_doc: dict[str, Any], old: Operation, new: Operation
) -> list[Change]:
    changes = _parameter_changes(old_doc, new_doc, old, new)
    if new.body is not None and old.body is None and new.body_required:
        changes.append(Change(True, old.name, "a request body is now required"))
    request_before = _fields(old_doc, old.body, "body")
    request_after = _fields(new_doc, new.body, "body")
    for name, now in request_after.items():
        was = request_before.get(name)
        newly_required = now.required and (was is None or not was.required)
        if newly_required and _parent_present(name, request_before):
            changes.append(Change(True, old.name, f"new required request field {name}"))
        elif was is not None and was.type != now.type:
            changes.append(
                Change(True, old.name, f"request field {name} changed type: {was.type} -> {now.type}")
            )
    changes += _response_changes(old_doc, new_doc, old, new)
    return list(dict.fromkeys(changes))


def _parent_present(name: str, fields: dict[str, _Field]) -> bool:
    return name.rpartition(".")[0] in fields


def _parameter_changes(
    old_doc: dict[str, Any], new_doc: dict[str, Any], old: Operation, new: Operation
) -> list[Change]:
    before = {(p.location, p.name): p for p in old.parameters}
    changes = []
    for key, now in {(p.location, p.name): p for p in new.parameters}.items():
        was: Parameter | None = before.get(key)
        label = f"{now.location} parameter {now.name}"
        if now.required and (was is None or not was.required):
            changes.append(Change(True, old.name, f"new required {label}"))
        elif was is not None and _type(was.schema, old_doc) != _type(now.schema, new_doc):
            changes.append(Change(True, old.name, f"{label} changed type"))
        elif was is None:
            changes.append(Change(False, old.name, f"new optional {label}"))
    return changes


def _response_changes(
    old_doc: dict[str, Any], new_doc: dict[str, Any], old: Operation, new: Operation
) -> list[Change]:
    before = _fields(old_doc, old.returns, "response")
    after = _fields(new_doc, new.returns, "response")
    changes = []
    for name, was in before.items():
        now = after.get(name)
        if now is None:
            if _parent_present(name, after) or name == "response":
                added = sorted(set(after) - set(before))
                hint = f" (renamed to {', '.join(added)}?)" if added else ""
                changes.append(Change(True, old.name, f"response field {name} removed{hint}"))
        elif now.type != was.type:
            changes.append(
                Change(True, old.name, f"response field {name} changed type: {was.type} -> {now.type}")
            )
    for name in after.keys() - before.keys():
        if _parent_present(name, before):
            changes.append(Change(False, old.name, f"response field {name} added"))
    return changes


def _fields(document: dict[str, Any], schema: dict[str, Any] | None, root: str) -> dict[str, _Field]:
    """Every field reachable in `schema`, by dotted path from `root` (`[]` for an array's items)."""
    found: dict[str, _Field] = {}
    if schema is not None:
        _walk(document, schema, root, True, found, depth=0)
    return found


def _walk(
    document: dict[str, Any],
    schema: dict[str, Any],
    path: str,
    required: bool,
    found: dict[str, _Field],
    depth: int,
) -> None:
    found[path] = _Field(_type(schema, document), required)
    if depth >= _MAX_DEPTH:
        return
    schema = _merged(document, schema)
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        _walk(document, schema["items"], f"{path}[]", True, found, depth + 1)
    needed = set(schema.get("required") or [])
    for name, child in (schema.get("properties") or {}).items():
        if isinstance(child, dict):
            _walk(document, child, f"{path}.{name}", name in needed, found, depth + 1)


def _merged(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` resolved, with an `allOf`'s members' properties and requirements folded in."""
    schema = resolve(document, schema)
    members = [resolve(document, m) for m in schema.get("allOf") or [] if isinstance(m, dict)]
    if not members:
        return schema
    merged: dict[str, Any] = {**schema, "properties": dict(schema.get("properties") or {})}
    merged["required"] = list(schema.get("required") or [])
    for member in members:
        merged["properties"].update(member.get("properties") or {})
        merged["required"] += member.get("required") or []
        merged.setdefault("type", member.get("type"))
    return merged


def _type(schema: dict[str, Any], document: dict[str, Any]) -> str:
    """A short name of a schema's type, as a client's annotation would see it ("string", "array<integer>")."""
    schema = _merged(document, schema)
    for combinator in ("anyOf", "oneOf"):
        if isinstance(schema.get(combinator), list):
            return "|".join(sorted({_type(m, document) for m in schema[combinator] if isinstance(m, dict)}))
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(sorted(map(str, kind)))
    if kind == "array":
        items = schema.get("items")
        return f"array<{_type(items, document) if isinstance(items, dict) else 'any'}>"
    if kind is None:
        return "object" if "properties" in schema else "any"
    return f"{kind}:{schema['format']}" if schema.get("format") else str(kind)
