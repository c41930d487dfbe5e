"""Answers given on the command line, and how they combine with recorded ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InputError


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """Turn repeated `-d KEY=VALUE` options into a mapping; the last value of a key wins."""
    data: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"'-d {pair}' is not KEY=VALUE; write it as e.g. -d port=9000.")
        data[key] = value
    return data


def combine(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Answers for a render: what the user gives now wins over what was recorded."""
    return {**recorded, **given}


def changed(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The given answers that differ from the recorded ones (compared as text, as typed)."""
    return {k: v for k, v in given.items() if k not in recorded or str(recorded[k]) != str(v)}


def refuse_derived(given: Mapping[str, Any], name: str) -> None:
    """NAME decides `service_name`; a `-d` that says otherwise would bypass its validation.
    (A cookiecutter template's `project_slug`, which svc also sets, is its engine's to check.)"""
    if "service_name" in given and str(given["service_name"]) != name:
        raise InputError(
            f"-d service_name={given['service_name']} contradicts the service's name '{name}', which "
            "sets service_name; drop that -d (to rename a service, make a new one with svc new)."
        )
