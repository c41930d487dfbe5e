# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""The zero-infrastructure registry: one SQLite file in WAL mode that every local process shares.

`svc registry ls` reads the `instances` table directly, so its schema is fixed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .base import Instance, RegistrationLost, RegistryUnavailable

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    realm TEXT,
    service TEXT,
    instance TEXT,
    value TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (realm, service, instance)
)
"""


class SqliteRegistry:
    """Registry backed by a local SQLite file; entries expire at `expires_at` (unix time)."""

    def __init__(self, path: Path, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._ready = False

    async def register(self, instance: Instance, ttl: float) -> None:
        await self._run(lambda db: _upsert(db, instance, time.time() + ttl))

    async def heartbeat(self, instance: Instance, ttl: float) -> None:
        renewed = await self._run(lambda db: _renew(db, instance, time.time() + ttl))
        if not renewed:
            raise RegistrationLost(f"{instance.key} is not in the registry any more")

    async def deregister(self, instance: Instance) -> None:
        await self._run(lambda db: _delete(db, instance))

    async def lookup(self, realm: str, service: str) -> list[Instance]:
        sql = "SELECT value FROM instances WHERE realm = ? AND service = ? AND expires_at >= ?"
        return await self._run(lambda db: _select(db, sql, (realm, service, time.time())))

    async def list_realm(self, realm: str) -> list[Instance]:
        sql = "SELECT value FROM instances WHERE realm = ? AND expires_at >= ? ORDER BY service, instance"
        return await self._run(lambda db: _select(db, sql, (realm, time.time())))

    async def aclose(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""

    def prepare(self) -> None:
        """Create the file now, and make sure this process may write it; raises `RegistryUnavailable`."""
        # Deletes nothing, but needs the write lock: a read-only file fails here, not at registration.
        self._run_blocking(lambda db: db.execute("DELETE FROM instances WHERE 0"))

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        # sqlite3 blocks; a thread keeps the event loop (and the probes) answering meanwhile.
        return await asyncio.to_thread(self._run_blocking, operation)

    def _run_blocking(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        try:
            if not self._ready:
                self._create()
            db = sqlite3.connect(self.path, timeout=self._busy_timeout)
            try:
                with db:
                    return operation(db)
            finally:
                db.close()
        except (sqlite3.Error, OSError) as error:
            raise RegistryUnavailable(f"registry {self.path}: {error}") from error

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=self._busy_timeout)
        try:
            # WAL lets readers (probes, `svc registry ls`) proceed while another process writes.
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                db.execute(SCHEMA)
        finally:
            db.close()
        self._ready = True


def _upsert(db: sqlite3.Connection, instance: Instance, expires_at: float) -> None:
    # Expired rows of crashed processes go here, on a write the caller makes anyway.
    db.execute("DELETE FROM instances WHERE expires_at < ?", (time.time(),))
    db.execute(
        "INSERT INTO instances (realm, service, instance, value, expires_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (realm, service, instance)"
        " DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
        (instance.realm, instance.service, instance.instance, instance.to_json(), expires_at),
    )


def _renew(db: sqlite3.Connection, instance: Instance, expires_at: float) -> bool:
    cursor = db.execute(
        "UPDATE instances SET expires_at = ?"
        " WHERE realm = ? AND service = ? AND instance = ? AND expires_at >= ?",
        (expires_at, instance.realm, instance.service, instance.instance, time.time()),
    )
    return cursor.rowcount > 0


def _delete(db: sqlite3.Connection, instance: Instance) -> None:
    db.execute(
        "DELETE FROM instances WHERE realm = ? AND service = ? AND instance = ?",
        (instance.realm, instance.service, instance.instance),
    )


def _select(db: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[Instance]:
    return [Instance.from_json(value) for (value,) in db.execute(sql, params)]
