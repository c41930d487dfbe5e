"""HAR 1.2 validation against the `har-schema` npm package's JSON schemas (tests/data/har-schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT6

SCHEMAS = Path(__file__).resolve().parent / "data" / "har-schema"


def har_errors(document: Any) -> list[str]:
    """What makes `document` not a HAR 1.2 log, as "path: message" lines; empty when it is one."""
    schemas = {path.name: json.loads(path.read_text()) for path in SCHEMAS.glob("*.json")}
    # The schemas name each other by relative id ("log.json#"), resolved against "har.json".
    registry: Registry[Any] = Registry().with_resources(
        (name, Resource.from_contents(schema, default_specification=DRAFT6))
        for name, schema in schemas.items()
    )
    validator = Draft6Validator(
        {"$ref": "har.json#"}, registry=registry, format_checker=Draft6Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]
