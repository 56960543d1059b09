"""Media (thumbnails, page renders, keyframes) in the PostgreSQL store's own schema (issue 17).

With media in a local folder, a second machine or a server in front of the same database could not show
a thumbnail the ingest wrote. Here they are rows of ``S.media (name, data bytea)`` in the store's schema
(so a workspace has its own), written by the ingesting process and read by any process that can reach the
database. Media written by older versions into the user cache folder are still read from there (read-only
fallback), so existing stores keep their pictures.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from vimrag._extras import require
from vimrag.errors import StoreError
from vimrag.store.media import FolderMedia, MediaBase
from vimrag.store.postgres_schema import in_schema, split_schema


class PostgresMedia(MediaBase):
    """JPEG bytes by name in ``<schema>.media``; one connection, used by one thread at a time."""

    def __init__(self, uri: str, thumb_px: int = 448, quality: int = 85, legacy: Path | None = None,
                 connect_timeout: int = 10) -> None:
        super().__init__(thumb_px, quality)
        self._psycopg: Any = require("psycopg", "postgres", "psycopg[binary]")
        conninfo, self.schema = split_schema(uri)
        try:
            self._conn = self._psycopg.connect(conninfo, autocommit=True, connect_timeout=connect_timeout)
            # CREATE … IF NOT EXISTS is not safe against another process doing the same: take the lock the
            # store takes for its own schema (PostgresStore._init_schema)
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('vimrag.schema'))")
                self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
                self._conn.execute(f"CREATE TABLE IF NOT EXISTS {self.schema}.media "
                                   "(name text PRIMARY KEY, data bytea NOT NULL)")
        except self._psycopg.Error as exc:
            raise StoreError(f"cannot open the media table of the PostgreSQL store: {exc}".strip()) from exc
        self._lock = threading.Lock()
        self._legacy = FolderMedia(legacy, create=False) if legacy is not None and legacy.is_dir() else None

    def _run(self, sql: str, params: tuple[Any, ...]) -> Any:
        try:
            with self._lock:
                return self._conn.execute(in_schema(sql, self.schema), params)
        except self._psycopg.Error as exc:
            raise StoreError(f"PostgreSQL media: {exc}".strip()) from exc

    def _put(self, name: str, data: bytes) -> None:
        self._run("INSERT INTO S.media (name, data) VALUES (%s, %s) "
                  "ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data", (name, data))

    def _get(self, name: str) -> bytes | None:
        row = self._run("SELECT data FROM S.media WHERE name = %s", (name,)).fetchone()
        if row is not None:
            return bytes(row[0])
        return self._legacy.read(name) if self._legacy is not None else None

    def _remove(self, names: list[str]) -> None:
        if names:
            self._run("DELETE FROM S.media WHERE name = ANY(%s::text[])", (names,))

    def close(self) -> None:
        if not self._conn.closed:
            self._conn.close()
