"""`dependsOn: component:NAME` in catalog-info.yaml, edited as text so the rest stays as written."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import InputError

_TOP_LEVEL = re.compile(r"^\S")


def with_dependency(text: str, service: str) -> str:
    """`text` (a catalog-info.yaml) with `component:<service>` in `spec.dependsOn`; unchanged if there."""
    entry = f"component:{service}"
    spec = _spec(text)
    if entry in (spec.get("dependsOn") or []):
        return text
    lines = text.splitlines(keepends=True)
    start, end = _spec_block(lines)
    depends = next((i for i in range(start + 1, end) if re.match(r"^\s+dependsOn:\s*$", lines[i])), None)
    if depends is None:
        indent = _indent(lines, start, end) or "  "
        insert_at, new = end, [f"{indent}dependsOn:\n", f"{indent}  - {entry}\n"]
    else:
        items = [i for i in range(depends + 1, end) if re.match(r"^\s+- ", lines[i])]
        first = lines[items[0]] if items else ""
        item_indent = (
            first[: len(first) - len(first.lstrip())] if items else _indent(lines, start, end) + "  "
        )
        insert_at, new = (items[-1] + 1 if items else depends + 1), [f"{item_indent}- {entry}\n"]
    if insert_at > 0 and not lines[insert_at - 1].endswith("\n"):
        lines[insert_at - 1] += "\n"
    edited = "".join([*lines[:insert_at], *new, *lines[insert_at:]])
    if entry not in (_spec(edited).get("dependsOn") or []):
        raise InputError(
            "catalog-info.yaml's spec is laid out in a way svc cannot edit; add the dependsOn by hand."
        )
    return edited


def _spec(text: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"catalog-info.yaml is not valid YAML: {err}") from err
    spec = document.get("spec") if isinstance(document, dict) else None
    if not isinstance(spec, dict):
        raise InputError("catalog-info.yaml has no spec: mapping to add dependsOn to.")
    return spec


def _spec_block(lines: list[str]) -> tuple[int, int]:
    """The index of the `spec:` line and of the first line after its block (trailing blanks excluded)."""
    start = next((i for i, line in enumerate(lines) if re.match(r"^spec:\s*$", line)), None)
    if start is None:
        raise InputError(
            "catalog-info.yaml's spec is not a block mapping svc can edit; add the dependsOn by hand."
        )
    end = next((i for i in range(start + 1, len(lines)) if _TOP_LEVEL.match(lines[i])), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return start, end


def _indent(lines: list[str], start: int, end: int) -> str:
    for line in lines[start + 1 : end]:
        if line.strip() and not line.lstrip().startswith("#"):
            return line[: len(line) - len(line.lstrip())]
    return ""
