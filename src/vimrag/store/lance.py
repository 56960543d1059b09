"""Embedded default store: LanceDB tables in a folder (``./.vimrag``), no server (DESIGN §3).

Layout under ``<uri>/``:

* ``db/items``: one row per item — id, source, source_hash, modality, locator (JSON), text, concepts
  (JSON with the Eq. 4 scores), the polarised edges of PolarMem Eq. 6 as ``has`` / ``not_has`` /
  ``uncertain`` ``list<int32>`` concept ids (LanceDB label-list scalar indexes), entities, media, z_sem as
  ``fixed_size_list<float32>[dim]`` (Eq. 10), meta (JSON) and the write ``generation``;
* ``db/sources``: committed sources with their generation; ``db/vocab``: concept name ↔ stable id;
  ``db/cache``: verification scores per (item content, concept, model);
* ``index/``: the in-memory :class:`~vimrag.index.PolarIndex` (exact lexicographic top-k of
  Algorithm 1) with the row ↔ item map and a stamp of the table versions it reflects, so a new CLI
  process loads it instead of rebuilding; it is rebuilt from the tables when the stamp is stale.

Crash safety of ``replace_source``: each LanceDB write is one atomic manifest commit, but a replace
touches several tables, so new rows are appended under a fresh generation, then the source record (with
that generation) is upserted — the commit point — and only then are the old generation's rows deleted.
Readers only see rows whose (source, generation) is committed; rows of an uncommitted or superseded
generation (a killed process) are garbage-collected on the next open. ``remove_source`` deletes the
source record first (commit point), then its rows, so items and all their concept edges vanish at once.
Writers serialise on ``<uri>/write.lock``; a store object sees its own writes at once and other processes'
commits within a second (``refresh``). One store object may be searched from several threads (a server):
the in-memory index is searched and reloaded under one lock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vimrag._extras import require
from vimrag.errors import StoreError
from vimrag.index import PolarIndex
from vimrag.index.lexical import TOKENIZER_VERSION
from vimrag.store import _codec
from vimrag.store import lance_tables as tables
from vimrag.store.base import LogicQuery, ScoredId, SourceRecord, TextQuery
from vimrag.store.index_state import IndexState, load_state, one_blas_thread, save_state, search_state
from vimrag.store.lance_arrow import COLUMNS, arrow_rows, items_schema
from vimrag.types import Item

_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from vimrag.config import PolarConfig

_INDEX_FORMAT = 2  # 2: the BM25 index of the lexical channel beside the PolarIndex


class LanceStore:
    """:class:`~vimrag.store.base.VectorStore` on LanceDB with an exact in-process PolarIndex for search."""

    def __init__(self, uri: str | os.PathLike[str], polar: PolarConfig | None = None) -> None:
        from vimrag.config import PolarConfig

        self._lancedb = require("lancedb", "store")
        self._pa = require("pyarrow", "store")
        self.uri = str(uri)
        self._root = Path(uri)
        self._polar = polar or PolarConfig()
        self._index_lock = threading.RLock()  # index search vs. reload/update from another thread
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            # Consistency interval 0: every read sees the latest commit, so other processes' writes show up.
            self._db = self._lancedb.connect(str(self._root / "db"), read_consistency_interval=timedelta(0))
        except OSError as exc:
            raise StoreError(f"cannot open store folder {self._root}: {exc}") from exc
        pa = self._pa
        self._sources_t = tables.open_or_create(self._db, "sources", pa.schema([
            ("source", pa.string()), ("source_hash", pa.string()), ("n_items", pa.int64()),
            ("meta", pa.string()), ("generation", pa.string())]))
        self._vocab_t = tables.open_or_create(self._db, "vocab", pa.schema([("id", pa.int32()), ("name", pa.string())]))
        self._cache_t = tables.open_or_create(self._db, "cache", pa.schema([("key", pa.string()), ("score", pa.float64())]))
        self._items_t: Any = tables.open_or_create(self._db, "items", None)
        self._dim: int | None = None
        if self._items_t is not None:
            self._dim = int(self._items_t.schema.field("vector").type.list_size)
        self._state: IndexState | None = None
        self._dirty = False
        self._writes = 0
        self._reload()
        try:
            with tables.write_lock(self._root, blocking=False) as locked:
                if locked:  # the committed sources are read again under the lock: a commit that landed
                    # since _reload must not look like garbage
                    tables.collect_garbage(self._items_t, tables.read_sources(self._sources_t))
        except StoreError:
            _log.info("store %s is read-only: opened for reading", self._root)
        self._seen = self._stamp()
        self._last_sync = time.monotonic()

    def _reload(self) -> None:
        """(Re)read the committed sources and the vocabulary; the index is reloaded or rebuilt lazily."""
        if self._items_t is None:
            self._items_t = tables.open_or_create(self._db, "items", None)
            if self._items_t is not None:
                self._dim = int(self._items_t.schema.field("vector").type.list_size)
        self._committed: dict[str, tuple[SourceRecord, str]] = tables.read_sources(self._sources_t)
        self._vocab: dict[str, int] = {}
        for batch in tables.scan(self._vocab_t, ["id", "name"]):
            for cid, name in zip(batch.column("id").to_pylist(), batch.column("name").to_pylist(), strict=True):
                self._vocab[name] = int(cid)
        self._state = None
        self._dirty = False

    def refresh(self) -> None:
        """Pick up commits made by other processes since this store was opened (or last refreshed)."""
        with self._index_lock:
            self._last_sync = time.monotonic()
            if self._stamp() != self._seen:  # sources change with every commit, items may have appeared
                self._reload()
                self._seen = self._stamp()

    def _maybe_refresh(self) -> None:
        if time.monotonic() - self._last_sync > 1.0:  # at most once a second: a version check is ~0.2 ms
            self.refresh()

    # ---------------------------------------------------------------- index state
    def _index_dir(self) -> Path:
        return self._root / "index"

    def _stamp(self) -> dict[str, Any]:
        return {"format": _INDEX_FORMAT, "tokenizer": TOKENIZER_VERSION,
                "items": None if self._items_t is None else int(self._items_t.version),
                "sources": int(self._sources_t.version)}

    def _new_index(self, dim: int) -> PolarIndex:
        return PolarIndex.from_config(dim, self._polar)

    def _ensure_state(self) -> IndexState | None:
        if self._state is not None or self._dim is None:
            return self._state
        loaded = self._load_state()
        self._state = loaded if loaded is not None else self._rebuild_state()
        return self._state

    def _load_state(self) -> IndexState | None:
        return load_state(self._index_dir(), self._stamp())

    def _rebuild_state(self) -> IndexState:
        dim = self._dim
        assert dim is not None
        st = IndexState(self._new_index(dim), np.zeros(0, np.int64))
        committed = {src: gen for src, (_, gen) in self._committed.items()}
        cols = ["id", "source", "generation", "has", "not_has", "uncertain", "vector", "text", "meta", "locator"]
        names = self._names()
        for b in tables.committed_batches(self._pa, self._items_t, cols, committed):
            st.add_batch(b, dim, names)
        self._dirty = True
        return st

    def _save_state(self) -> None:
        if self._state is None or not self._dirty:
            return
        save_state(self._index_dir(), self._state, self._stamp())  # leaves no index.tmp on failure
        self._dirty = False

    # ---------------------------------------------------------------- writes
    def _ensure_items_table(self, dim: int) -> None:
        if self._items_t is not None:
            return
        self._items_t = self._db.create_table("items", schema=items_schema(self._pa, dim), exist_ok=True)
        self._dim = dim
        self._state = IndexState(self._new_index(dim), np.zeros(0, np.int64))

    def _names(self) -> dict[int, str]:
        return {cid: n for n, cid in self._vocab.items()}

    def _concept_ids(self, names: Sequence[str]) -> dict[str, int]:
        new = [n for n in names if n not in self._vocab]
        if new:
            start = max(self._vocab.values(), default=-1) + 1
            pa = self._pa
            self._vocab_t.add(pa.table({"id": pa.array(range(start, start + len(new)), pa.int32()),
                                        "name": pa.array(new, pa.string())}))
            for i, n in enumerate(new):
                self._vocab[n] = start + i
        return self._vocab

    def replace_source(self, record: SourceRecord, items: Sequence[Item]) -> None:
        self.replace_many([(record, items)])

    def replace_many(self, batch: Sequence[tuple[SourceRecord, Sequence[Item]]]) -> None:
        """Replace several sources with one commit (bulk ingest); each source is replaced atomically.

        A failed write (a full disk, an I/O error) is a :class:`StoreError`; what was committed before it
        stays, rows of the failed generation are garbage-collected on the next open, and this object
        re-reads the committed state."""
        try:
            self._replace_many(batch)
        except (OSError, RuntimeError) as exc:  # LanceDB reports I/O errors as RuntimeError("lance error: …")
            self._reload()
            raise StoreError(f"cannot write the store {self._root}: {tables.short_error(exc)}") from exc

    def _replace_many(self, batch: Sequence[tuple[SourceRecord, Sequence[Item]]]) -> None:
        if len({r.source for r, _ in batch}) != len(batch):
            raise StoreError("a source appears twice in one replace_many batch")
        dim = self._dim
        for record, items in batch:
            dim = _codec.validate_batch(record, items, dim)
        all_items = [it for _, items in batch for it in items]
        pa = self._pa
        with tables.write_lock(self._root):
            self.refresh()
            if self._dim is not None and dim != self._dim and all_items:
                raise StoreError(f"this store holds {self._dim}-d vectors, got {dim}-d")
            if dim is not None:
                self._ensure_items_table(dim)
            st = self._ensure_state()
            ids = self._concept_ids(_codec.concept_names(all_items))
            generation = uuid.uuid4().hex
            table = None
            if all_items:
                assert dim is not None  # validate_batch gave the items' dimension
                table = arrow_rows(self._pa, self._items_t.schema, dim, all_items, ids, generation)
                self._items_t.add(table)  # step 1: invisible rows of a new generation
            recs = pa.table({
                "source": [r.source for r, _ in batch], "source_hash": [r.source_hash for r, _ in batch],
                "n_items": pa.array([r.n_items for r, _ in batch], pa.int64()),
                "meta": [_codec.record_to_json(r) for r, _ in batch], "generation": [generation] * len(batch)})
            (self._sources_t.merge_insert("source").when_matched_update_all()
             .when_not_matched_insert_all().execute(recs))  # step 2: the commit point
            replaced = [r.source for r, _ in batch if r.source in self._committed]
            old_concepts = {src: self._source_concepts(src, self._committed[src][1]) for src in replaced} \
                if st is not None else {}
            for r, _ in batch:
                self._committed[r.source] = (r, generation)
            # step 3: drop superseded rows (no items table yet: only empty sources were ever written)
            for part in _codec.chunks(replaced if self._items_t is not None else [], tables.IN_CHUNK):
                self._items_t.delete("source IN (" + ", ".join(map(_codec.sql_quote, part)) + ") AND generation <> "
                                     + _codec.sql_quote(generation))
            if st is not None:
                for src in replaced:
                    st.remove_source(src, old_concepts[src])
                if table is not None and dim is not None:
                    names = self._names()
                    for b in table.to_batches(max_chunksize=65536):
                        st.add_batch(b, dim, names)
            self._dirty = True
            self._after_write()
            self._seen = self._stamp()

    def _source_concepts(self, source: str, generation: str) -> list[np.ndarray]:
        """Concept ids on every edge of one committed source version (to keep vocabulary counts exact)."""
        where = f"source = {_codec.sql_quote(source)} AND generation = {_codec.sql_quote(generation)}"
        out: list[np.ndarray] = []
        for b in tables.scan(self._items_t, ["has", "not_has", "uncertain"], where):
            for col in ("has", "not_has", "uncertain"):
                c = b.column(col)
                out.append(np.asarray(c.values.to_numpy(zero_copy_only=False), dtype=np.int64))
        return out

    def _after_write(self) -> None:
        self._writes += 1
        if self._items_t is not None and self._writes % 64 == 1:
            try:
                tables.ensure_scalar_indexes(self._items_t)
            except (OSError, ValueError, RuntimeError) as exc:
                # scalar indexes only speed up filters; without them every query is still exact
                _log.warning("LanceDB scalar indexes not created (%s); queries stay exact, only slower", exc)

    def remove_source(self, source: str) -> int:
        with tables.write_lock(self._root):
            self.refresh()
            if source not in self._committed:
                return 0
            st = self._ensure_state()
            old = self._source_concepts(source, self._committed[source][1]) if st is not None else []
            self._sources_t.delete(f"source = {_codec.sql_quote(source)}")  # commit point
            del self._committed[source]
            n = 0
            if self._items_t is not None:
                n = int(self._items_t.delete(f"source = {_codec.sql_quote(source)}").num_deleted_rows)
            if st is not None:
                st.remove_source(source, old)
            self._dirty = True
            self._seen = self._stamp()
            return n

    # ---------------------------------------------------------------- reads
    def sources(self) -> dict[str, SourceRecord]:
        self._maybe_refresh()
        return {s: rec for s, (rec, _) in sorted(self._committed.items())}

    def _visible(self, batch: Any) -> list[dict[str, Any]]:
        out = []
        for row in batch.to_pylist():
            c = self._committed.get(row["source"])
            if c is not None and c[1] == row["generation"]:
                out.append(row)
        return out

    def get(self, ids: Sequence[str]) -> list[Item]:
        self._maybe_refresh()
        if self._items_t is None or not ids:
            return []
        by_id: dict[str, Item] = {}
        for part in _codec.chunks(list(dict.fromkeys(ids)), tables.IN_CHUNK):
            where = "id IN (" + ", ".join(map(_codec.sql_quote, part)) + ")"
            for b in tables.scan(self._items_t, list(COLUMNS), where):
                for row in sorted(self._visible(b), key=lambda r: r["source"]):
                    by_id.setdefault(row["id"], _codec.row_to_item(row))
        return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]

    def iter_items(self, batch_size: int = 1024) -> Iterator[Item]:
        self._maybe_refresh()
        if self._items_t is None:
            return
        q = self._items_t.search().select(list(COLUMNS)).limit(None)
        for b in q.to_batches(batch_size):
            for row in self._visible(b):
                yield _codec.row_to_item(row)

    def items_of(self, source: str) -> list[Item]:
        self._maybe_refresh()
        if self._items_t is None or source not in self._committed:
            return []
        where = f"source = {_codec.sql_quote(source)} AND generation = {_codec.sql_quote(self._committed[source][1])}"
        return [_codec.row_to_item(row) for b in tables.scan(self._items_t, list(COLUMNS), where)
                for row in b.to_pylist()]

    def count(self) -> int:
        self._maybe_refresh()
        st = self._ensure_state()
        return 0 if st is None else len(st.index)

    def vocabulary(self) -> list[str]:
        self._maybe_refresh()
        st = self._ensure_state()
        if st is None:
            return []
        names = {cid: n for n, cid in self._vocab.items()}
        return sorted(names[int(c)] for c in np.flatnonzero(st.counts > 0) if int(c) in names)

    def search(self, vector: np.ndarray, query: LogicQuery, k: int, text: TextQuery | None = None
               ) -> list[ScoredId]:
        with self._index_lock:
            self._maybe_refresh()
            st = self._ensure_state()
            if st is None or k <= 0 or len(st.index) == 0:
                return []
            q = _codec.normalize_rows(_codec.as_f32_vector(vector, self._dim, "query")[None, :])[0]
            pos = _codec.map_query(query.positive, self._vocab.get)
            neg = _codec.map_negative(query.negative, self._vocab.get, query.strict_negation)
            return search_state(st, q, pos, neg, k, text, query.strict_negation)

    # ---------------------------------------------------------------- cache
    def cache_get(self, keys: Sequence[str]) -> dict[str, float]:
        return tables.cache_get(self._cache_t, keys)

    def cache_put(self, values: dict[str, float]) -> None:
        if values:
            with tables.write_lock(self._root):
                tables.cache_put(self._pa, self._cache_t, values)

    # ---------------------------------------------------------------- lifecycle
    def optimize(self) -> None:
        """Compact fragments and refresh the scalar indexes (after large ingests)."""
        with tables.write_lock(self._root):
            self.refresh()
            self._optimize_tables()

    def _optimize_tables(self) -> None:
        fresh = self._stamp_matches()
        for t in (self._items_t, self._sources_t, self._vocab_t, self._cache_t):
            if t is not None:
                t.optimize()
        self._writes = 0
        st = self._state
        if st is not None and getattr(st.index, "needs_rebuild", False):
            with one_blas_thread():
                st.index.build_ann()  # many tombstones (replaced/removed sources): rebuild the HNSW graph
            self._dirty = True
        if fresh:  # compaction changes versions, not content: the index still reflects the tables
            self._seen = self._stamp()
            self._dirty = self._state is not None

    def close(self) -> None:
        """Persist the index (and compact the tables after many writes) so the next process starts fast.

        Only an optimisation: on a read-only store or a full disk the index is not saved (the next process
        rebuilds it) and the tables are untouched; that is logged, never raised, so a read never fails
        because a cache could not be written.
        """
        if not (self._dirty or self._writes):
            return
        try:
            with tables.write_lock(self._root):
                if self._writes >= 32 or (self._state is not None and self._state.index.needs_rebuild):
                    self._optimize_tables()
                if self._dirty and self._stamp_matches():
                    self._save_state()
        except StoreError as exc:
            _log.info("index not saved: %s", exc)
        except OSError as exc:  # e.g. no space left on the device
            _log.warning("index not saved (%s); the next process rebuilds it from the tables", exc)

    def _stamp_matches(self) -> bool:
        """True when nobody else committed since our last read/write: the index reflects the tables."""
        return self._stamp() == self._seen
