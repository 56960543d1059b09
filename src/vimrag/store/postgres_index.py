"""Exact search over a PostgreSQL store in the process that searches it (``polar.pg_search = "index"``).

Why: the SQL tiers of :class:`~vimrag.store.postgres.PostgresStore` are exact only up to
``polar.exact_max`` rows per tier; larger tiers go to pgvector's filtered HNSW, which at 1M items returned
recall@10 0.962 (multi-concept and medium tiers of 32k–200k rows lost the most), and scoring such tiers
exactly in SQL means scanning up to every row per query. The embedded store's PolarIndex
(:mod:`vimrag.index.core`) is exact by construction — HNSW only proposes candidates and a projection bound
certifies the top-k — so this module loads it from the database's rows and keeps it current; the database
stays the one durable copy that every process shares.

**Staying current.** Every write appends the sources it replaced or removed to ``S.changes`` (``seq
bigserial``), under a store-wide advisory lock taken as the transaction's last step and held until its
commit, so sequence numbers become visible in commit order: a reader that sees ``seq = n`` has seen every
change up to ``n``. Before each search the index reads ``max(seq)`` (one short round trip); if it moved, the
changed sources' rows are re-read in one REPEATABLE READ snapshot (their old rows are tombstoned first). A
process therefore sees another process's committed writes at its next search, and its own at once.

**Persistence.** At ``close`` the state is saved under ``$VIMRAG_CACHE_DIR/pg-index/<digest of the store
URI>`` with the store's id (a random id written when its schema is created) and the sequence number it
reflects; the next process loads it and catches up from the log instead of reading every row. A copy of
another store (the schema dropped and made again) or one ahead of the log (a restored backup) is rebuilt.

**Cost** (1M items, 384-d, ``benchmarks/results/store_search_1m.json``): p50 4.0 ms, p95 22.8 ms, recall@10
1.0 (the SQL planner: 24.8 / 105 ms, 0.962). Memory per searching process: the vectors, the certificate's
projection and the HNSW graph, ≈ 7 GB per million items; a process that cannot afford it sets
``polar.pg_search = "sql"``. The first process on a machine reads every row once (520 s at 1M, the graph
build most of it); the next loads the saved copy (25 s, 2.4 GB on disk).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vimrag.index import PolarIndex
from vimrag.index.lexical import TOKENIZER_VERSION
from vimrag.store.index_state import IndexState, load_state, one_blas_thread, save_state
from vimrag.store.lance_tables import write_lock
from vimrag.store.postgres_schema import in_schema

_log = logging.getLogger(__name__)

_FORMAT = 1
_BATCH = 20_000  # rows per fetch while loading (vectors are ~1.5 kB each)
_ROW_COLUMNS = "source, id, has, not_has, uncertain, vector, text, meta, locator"


def cache_folder(uri: str, root: Path) -> Path:
    """Where the index of the store at ``uri`` (schema included) is kept on this machine."""
    return root / "pg-index" / hashlib.sha1(uri.encode()).hexdigest()[:16]


class PgIndex:
    """The in-process :class:`IndexState` of one PostgreSQL schema, built from its rows and kept current by
    its change log. It reads on a connection of its own (``connect``: autocommit, vector types registered),
    opened at the first search: its snapshot transactions never interleave with the store's statements from
    another thread, and a long first load does not hold the store's connection."""

    def __init__(self, connect: Callable[[], Any], schema: str, new_index: Callable[[], PolarIndex],
                 folder: Path) -> None:
        self._connect = connect
        self._conn: Any = None
        self._schema = schema
        self._new_index = new_index
        self.folder = folder
        self.lock = threading.RLock()  # a server searches one store from several threads
        self._state: IndexState | None = None
        self._seq = 0
        self._store_id: str | None = None
        self._dirty = False

    def _x(self, sql: str, params: Any = None) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn.execute(in_schema(sql, self._schema), params)

    def _top(self) -> int:
        return int(self._x("SELECT coalesce(max(seq), 0) FROM S.changes").fetchone()[0])

    def _stamp(self) -> dict[str, Any]:
        return {"format": _FORMAT, "tokenizer": TOKENIZER_VERSION, "store": self._store_id, "seq": self._seq}

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One REPEATABLE READ transaction: the log position and the rows read in it agree."""
        self._x("SELECT 1")  # connected
        with self._conn.transaction():
            self._x("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield

    def _load_rows(self, st: IndexState, where: str = "", params: Any = None) -> int:
        """Add the rows ``where`` selects to ``st`` (inside a snapshot); binary fetch: vectors arrive as arrays."""
        names = {int(i): n for i, n in self._x("SELECT id, name FROM S.vocab").fetchall()}
        sql = in_schema(f"SELECT {_ROW_COLUMNS} FROM S.items {where} ORDER BY source, id", self._schema)
        n = 0
        with self._conn.cursor(name="vimrag_index_load", binary=True) as cur:
            cur.itersize = _BATCH
            cur.execute(sql, params)
            while rows := cur.fetchmany(_BATCH):
                cols = list(zip(*rows, strict=True))
                st.add_rows(cols[0], cols[1], np.stack([v.to_numpy() for v in cols[5]]),
                            cols[2], cols[3], cols[4], cols[6], cols[7], cols[8], names)
                n += len(rows)
        return n

    # ---------------------------------------------------------------- the state
    def state(self) -> IndexState:
        """The index, current with every change committed before this call (call under :attr:`lock`)."""
        if self._state is None:
            row = self._x("SELECT value FROM S.meta WHERE key = 'store_id'").fetchone()
            self._store_id = None if row is None else str(row[0])
            self._state = self._load_saved() or self._build()
        top = self._top()
        if top < self._seq:  # the log went back (a restored backup): rows we hold may not exist any more
            _log.info("the store's change log is behind its index; rebuilding the index from the rows")
            self._state = self._build()
        elif top > self._seq:
            self._catch_up(self._state)
        return self._state

    def _build(self) -> IndexState:
        st = IndexState(self._new_index(), np.zeros(0, np.int64))
        with self._snapshot():
            self._seq = self._top()
            n = self._load_rows(st)
        _log.info("PolarIndex built from %d PostgreSQL rows (change %d)", n, self._seq)
        self._dirty = True
        return st

    def _catch_up(self, st: IndexState) -> None:
        with self._snapshot():
            top = self._top()
            changed = [r[0] for r in self._x("SELECT DISTINCT source FROM S.changes WHERE seq > %s",
                                               (self._seq,)).fetchall()]
            for src in changed:
                st.remove_source(src, [])  # concept counts stay the database's (vocabulary() reads SQL)
            self._load_rows(st, "WHERE source = ANY(%s::text[])", (changed,))
            self._seq = top
        self._dirty = True
        if st.index.needs_rebuild:  # tombstones past a quarter of the graph: rebuild graph and projection
            with one_blas_thread():
                st.index.build_ann()

    # ---------------------------------------------------------------- persistence
    def _load_saved(self) -> IndexState | None:
        d = self.folder / "index"
        try:
            saved = json.loads((d / "stamp.json").read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            _log.warning("saved PostgreSQL index unreadable (%s); rebuilding it from the rows", exc)
            return None
        want = self._stamp()
        if any(saved.get(k) != want[k] for k in ("format", "tokenizer", "store")) or not isinstance(
                saved.get("seq"), int):
            _log.info("saved PostgreSQL index belongs to another store version; rebuilding it from the rows")
            return None
        st = load_state(d, saved)
        if st is not None:
            self._seq = int(saved["seq"])
        return st

    def save(self) -> None:
        """Keep the index for the next process (only an optimisation: failures are logged, never raised, and a
        folder another process is saving is left to it)."""
        if self._state is None or not self._dirty:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with write_lock(self.folder, blocking=False) as locked:
                if locked:
                    save_state(self.folder / "index", self._state, self._stamp())
                    self._dirty = False
        except OSError as exc:  # a full disk, a read-only cache
            _log.warning("PostgreSQL index not saved (%s); the next process rebuilds it from the rows", exc)

    def close(self) -> None:
        """Save the index for the next process, let its memory go (gigabytes at a million items, and a
        closed store may live on in a reference cycle until the collector runs) and close the connection."""
        try:
            self.save()
        finally:
            self._state = None
            self._seq = 0
            if self._conn is not None and not self._conn.closed:
                self._conn.close()

    def forget(self) -> None:
        """Drop the in-memory and the saved index (the store was dropped)."""
        self._state = None
        self._seq = 0
        shutil.rmtree(self.folder, ignore_errors=True)


def log_changes(x: Callable[..., Any], sources: Sequence[str]) -> None:
    """Append ``sources`` to the change log as the last step of a write transaction: the store-wide lock,
    held until commit, makes sequence numbers visible in commit order (see the module docstring)."""
    if sources:
        x("SELECT pg_advisory_xact_lock(hashtext('vimrag.changes'))")
        x("INSERT INTO S.changes (source) SELECT unnest(%s::text[])", (list(sources),))
