"""The local registry: a SQLite file, the table ``instances(realm, service, instance, value,
expires_at)``; a row is live while ``expires_at`` (unix time) is not past. The file is
opened read-only: listing never writes to the developer's registry."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ..errors import InputError, RegistryError


def read(url: str, realm: str) -> list[str]:
    """The entries of ``realm``'s live instances in the registry ``sqlite:///PATH``."""
    return _read_sqlite(_sqlite_path(url, url.partition("://")[2]), realm)


def _sqlite_path(url: str, rest: str) -> Path:
    if not rest.startswith("/") or not rest.strip("/"):
        raise InputError(f"registry URL {url!r}: write sqlite:///ABSOLUTE/PATH.")
    return Path("/" + rest.lstrip("/"))


def _read_sqlite(path: Path, realm: str) -> list[str]:
    if not path.is_file():
        raise RegistryError(
            f"There is no registry at {path}: no service has registered there yet, "
            "or SVC_REGISTRY_URL / --registry names the wrong file."
        )
    sql = "SELECT value FROM instances WHERE realm = ? AND expires_at >= ?"
    try:
        # mode=ro: listing must never create, migrate or lock the services' registry.
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = db.execute(sql, (realm, time.time())).fetchall()
        finally:
            db.close()
    except sqlite3.Error as error:
        raise RegistryError(f"Cannot read the registry at {path}: {error}.") from error
    return [str(row[0]) for row in rows]
