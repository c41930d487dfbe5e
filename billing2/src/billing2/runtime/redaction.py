# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Keeps credentials out of log lines: values of secret fields become `[redacted]`.

A field is secret by name (compared without case, `-` as `_`): the usual headers and fields
below, the settings' `SecretStr`/`SecretBytes` fields and `SVC_LOG_REDACT_FIELDS`. Names are
looked for at the top of a line, and inside what a line holds: mappings (headers, JSON bodies),
lists of name-value pairs (ASGI headers) and pydantic models (settings).
"""

from __future__ import annotations

import typing
from collections.abc import Collection, Mapping, MutableMapping
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

REDACTED = "[redacted]"
SECRET_NAMES = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "x_api_key",
        "api_key",
        "apikey",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "private_key",
    }
)
# Values that cannot hold a named field: most of a line, skipped at the cost of one set lookup.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def secret_fields(settings: type[BaseModel]) -> set[str]:
    """Names of the fields of `settings` that are typed `SecretStr` or `SecretBytes` (optional or not)."""
    secret_types = {SecretStr, SecretBytes}
    return {
        name
        for name, field in settings.model_fields.items()
        if secret_types & {field.annotation, *typing.get_args(field.annotation)}
    }


def _normal(name: object) -> str:
    text = name.decode("latin-1") if isinstance(name, bytes) else str(name)
    return text.lower().replace("-", "_")


class Redactor:
    """Replaces the values of secret fields in a log event, leaving everything else as it is."""

    _MEMO_SIZE = 4096

    def __init__(self, extra_names: Collection[str] = ()) -> None:
        self.names = SECRET_NAMES | {_normal(name) for name in extra_names}
        # Field names repeat from line to line; each is normalised once.
        self._secret: dict[object, bool] = {}

    def event(self, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if self.is_secret(key):
                event[key] = REDACTED
            elif type(value) not in _PLAIN and key != "exc_info":
                event[key] = self.value(value)
        return event

    def is_secret(self, name: object) -> bool:
        secret = self._secret.get(name)
        if secret is None:
            secret = _normal(name) in self.names
            if len(self._secret) < self._MEMO_SIZE:
                self._secret[name] = secret
        return secret

    def value(self, value: Any) -> Any:
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, Mapping):
            return {key: REDACTED if self.is_secret(key) else self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            if len(value) == 2 and isinstance(value[0], str | bytes) and self.is_secret(value[0]):
                return (value[0], REDACTED)
            return [self.value(item) for item in value]
        return value
