"""PostgreSQL + pgvector store: the scale-out backend of PolarMem's memory (DESIGN §3).

Tables (in schema ``vimrag`` unless the URI says ``?schema=NAME``):

* ``items``: one row per item, primary key (source, id); the polarised edges of PolarMem Eq. 6 as
  ``has`` / ``not_has`` / ``uncertain int4[]`` (GIN-indexed), z_sem as ``vector(dim)`` (HNSW,
  ``vector_cosine_ops``, m=32, ef_construction=128 — m=16 returned a zero-recall result on clustered data);
* ``sources``: committed files; ``vocab``: stable concept ids; ``concept_count``: per-concept posting-list
  sizes, kept in the same transactions, used to plan queries; ``cache``: verification scores (Eq. 4);
  ``meta``: vector dimension, the number of duplicate item ids (the same content at two paths) and the
  store's id; ``changes``: the sources each commit replaced or removed, in commit order.

Every write of a source is one transaction: a crash or a restart leaves the old or the new version.

Search (``polar.pg_search``): by default the embedded store's certified PolarIndex, loaded from these rows
into the searching process and kept current by ``changes``, the log of the sources each commit touched
(:mod:`vimrag.store.postgres_index`): exact at any size. With ``pg_search = "sql"`` (no per-process memory;
what Citus distributes), search is Algorithm 1 of PolarMem done as lexicographic tiers in SQL: the VERIFIED
tier (``has && Q+`` and no conflict), then the UNCERTAIN (neutral) tier, then the CONFLICT tier, each
``ORDER BY vector <=> q LIMIT k``, stopping once k rows are found. Each tier is planned from a cheap
estimate (summed posting-list sizes from ``concept_count``): a tier of at most ``exact_max`` rows is
scored exactly (GIN bitmap scan, HNSW disabled with ``enable_indexscan = off``), because filtered ANN
loses recall when a medium number of rows match; a huge tier uses HNSW with a raised ``hnsw.ef_search``
and pgvector ≥ 0.8 iterative scans (``hnsw.iterative_scan = strict_order``), and falls back to the exact
scan if the index returns fewer rows than the tier holds.

Citus: the store does not require it. To distribute, after the first write run
``SELECT create_distributed_table('vimrag.items', 'source')`` (items are sharded by the hash of their
source, so a source's rows and its transaction stay on one shard; GIN/HNSW indexes are created per shard
and ORDER BY … LIMIT is pushed down to the shards), and
``SELECT create_reference_table(t)`` for ``vimrag.vocab``, ``vimrag.concept_count`` and ``vimrag.meta``.
:meth:`PostgresStore.distribute` does exactly this when the ``citus`` extension is installed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vimrag._cache import cache_dir
from vimrag._extras import require
from vimrag.errors import StoreError
from vimrag.index import PolarIndex
from vimrag.index.fusion import fuse
from vimrag.index.lexical import TOKENIZER_VERSION
from vimrag.store import _codec, postgres_lexical
from vimrag.store.base import LogicQuery, ScoredId, SourceRecord, TextQuery
from vimrag.store.index_state import search_state
from vimrag.store.postgres_index import PgIndex, cache_folder, log_changes
from vimrag.store.postgres_schema import (
    BASE_TABLES,
    COLUMNS,
    COPY_TYPES,
    LEXICAL_DDL,
    in_schema,
    items_ddl,
    split_schema,
)
from vimrag.types import Item, LogicState

if TYPE_CHECKING:
    from vimrag.config import PolarConfig

class PostgresStore:
    """:class:`~vimrag.store.base.VectorStore` on PostgreSQL ≥ 13 with pgvector ≥ 0.5 (0.8 for iterative scans)."""

    def __init__(self, uri: str, polar: PolarConfig | None = None, connect_timeout: int = 10,
                 auto_ann_index: bool = True) -> None:
        """``auto_ann_index=False`` defers the HNSW build to :meth:`ensure_ann_index` (bulk loads); the
        database's HNSW index is built only for ``polar.pg_search = "sql"``, which searches with it."""
        from vimrag.config import PolarConfig

        psycopg = require("psycopg", "postgres", "psycopg[binary]")
        self._pgv = require("pgvector.psycopg", "postgres", "pgvector")
        self.uri = uri
        self._polar = polar or PolarConfig()
        conninfo, self.schema = split_schema(uri)
        self._psycopg = psycopg
        self._conn = self._connect(conninfo, connect_timeout, register=False)  # the vector type may not exist yet
        self._vocab: dict[str, int] = {}
        self._ef = 0  # hnsw.ef_search currently set on the session (0 = not yet)
        self._auto_ann = auto_ann_index and self._polar.pg_search == "sql"
        self._init_schema()
        self._index = PgIndex(lambda: self._connect(conninfo, connect_timeout), self.schema, self._new_index,
                              cache_folder(uri, cache_dir())) if self._polar.pg_search == "index" else None

    def _connect(self, conninfo: str, timeout: int, register: bool = True) -> Any:
        """A connection to this store's database (the store's own, or its index's), with pgvector's types
        registered unless ``register`` is off. prepare_threshold=None: no server-side prepared statements,
        whose generic plans would ignore the concept arrays and pick one access path (ANN or exact) for
        every tier."""
        try:
            conn = self._psycopg.connect(conninfo, autocommit=True, connect_timeout=timeout, prepare_threshold=None)
        except self._psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.uri}: {exc}".strip()) from exc
        if register:
            self._pgv.register_vector(conn)
        return conn

    def _new_index(self) -> PolarIndex:
        assert self._dim is not None
        return PolarIndex.from_config(self._dim, self._polar)

    # ---------------------------------------------------------------- schema
    def _x(self, sql: str, params: Any = None) -> Any:
        return self._conn.execute(in_schema(sql, self.schema), params)

    def _init_schema(self) -> None:
        with self._conn.transaction():
            self._x("SELECT pg_advisory_xact_lock(hashtext('vimrag.schema'))")
            try:
                self._x("CREATE EXTENSION IF NOT EXISTS vector")
            except self._psycopg.errors.Error as exc:
                raise StoreError("the pgvector extension is not available in this PostgreSQL server "
                                 f"(install pgvector, or run scripts/pg_ci.sh): {exc}") from exc
            self._x(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            for sql in BASE_TABLES:
                self._x(sql)
            tokenizer = self._meta_int("lex_tokenizer")
            if self._meta_int("dim") is not None:  # a store written before the lexical channel: add it
                for sql in LEXICAL_DDL:
                    self._x(sql)
                postgres_lexical.retokenize_if_stale(self._x, tokenizer)
                postgres_lexical.backfill(self._x, self._names)
            if tokenizer != TOKENIZER_VERSION:
                postgres_lexical.stamp_tokenizer(self._x)
        self._pgv.register_vector(self._conn)
        self._dim = self._meta_int("dim")

    def _has_items(self) -> bool:
        """Whether the items table exists: created by the first write, possibly by another process after
        this store was opened empty (a server whose ingest worker has its own connection)."""
        if self._dim is None:
            self._dim = self._meta_int("dim")
        return self._dim is not None

    def _meta_int(self, key: str) -> int | None:
        row = self._x("SELECT value FROM S.meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else int(row[0])

    def _ensure_items(self, dim: int) -> None:
        """Create the items table on the first write, once the vector dimension is known."""
        self._x("SELECT pg_advisory_xact_lock(hashtext('vimrag.schema'))")
        stored = self._meta_int("dim")
        if stored is not None:
            if stored != dim:
                raise StoreError(f"this store holds {stored}-d vectors, got {dim}-d")
            self._dim = stored
            return
        for sql in items_ddl(dim):
            self._x(sql)
        self._x("INSERT INTO S.meta VALUES ('dim', %s)", (str(dim),))
        self._dim = dim

    def _has_ann_index(self) -> bool:
        row = self._x("SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = 'items_vec'",
                      (self.schema,)).fetchone()
        return row is not None

    def ensure_ann_index(self) -> None:
        """Build the HNSW index (once the store outgrows exact scans; building it on bulk data is faster)."""
        if not self._has_items() or self._has_ann_index():
            return
        cap = int(self._polar.hnsw_build_memory_mb)
        if cap > 0:
            # pgvector keeps per element the vector, 2·m 16-byte neighbour slots on layer 0 and ~250 bytes of
            # bookkeeping; 1.2 for the upper layers and allocator overhead (1M × 384-d, m 32: ≈ 3.2 GB)
            need = self.count() * (4 * int(self._dim or 0) + 32 * int(self._polar.hnsw_m) + 256) * 1.2 / 2**20
            self._x(f"SET maintenance_work_mem = '{int(min(cap, max(1024, need)))}MB'")
        self._x(f"CREATE INDEX IF NOT EXISTS items_vec ON S.items USING hnsw (vector vector_cosine_ops) "
                f"WITH (m = {int(self._polar.hnsw_m)}, ef_construction = {int(self._polar.hnsw_ef_construction)})")
        self._x("ANALYZE S.items")

    def distribute(self) -> None:
        """Distribute the store with Citus (items sharded by source); a no-op error if Citus is absent."""
        if self._x("SELECT 1 FROM pg_extension WHERE extname = 'citus'").fetchone() is None:
            raise StoreError("the citus extension is not installed in this database")
        self._x(f"SELECT create_distributed_table('{self.schema}.items', 'source')")
        for t in ("vocab", "concept_count", "meta"):
            self._x(f"SELECT create_reference_table('{self.schema}.{t}')")

    # ---------------------------------------------------------------- vocabulary
    def _concept_ids(self, names: Sequence[str]) -> dict[str, int]:
        missing = [n for n in names if n not in self._vocab]
        if missing:
            self._x("INSERT INTO S.vocab (name) SELECT unnest(%s::text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
                    (missing,))
            for cid, name in self._x("SELECT id, name FROM S.vocab WHERE name = ANY(%s::text[])", (missing,)):
                self._vocab[name] = int(cid)
        return self._vocab

    def _names(self, ids: Sequence[int]) -> dict[int, str]:
        rows = self._x("SELECT id, name FROM S.vocab WHERE id = ANY(%s::int4[])", (list(ids),)).fetchall()
        return {int(r[0]): r[1] for r in rows}

    def _lookup(self, name: str) -> int | None:
        if name not in self._vocab:
            row = self._x("SELECT id FROM S.vocab WHERE name = %s", (name,)).fetchone()
            if row is None:
                return None
            self._vocab[name] = int(row[0])
        return self._vocab[name]

    def vocabulary(self) -> list[str]:
        rows = self._x("SELECT v.name FROM S.vocab v JOIN S.concept_count c ON c.concept = v.id "
                       "WHERE c.n_has + c.n_not_has + c.n_uncertain > 0 ORDER BY v.name").fetchall()
        return [r[0] for r in rows]

    # ---------------------------------------------------------------- writes
    def _count_delta(self, source: str, sign: int) -> None:
        op = "+" if sign > 0 else "-"
        self._x(f"""INSERT INTO S.concept_count AS cc (concept, n_has, n_not_has, n_uncertain)
            SELECT c, {sign}*sum(h), {sign}*sum(n), {sign}*sum(u) FROM (
              SELECT unnest(has) AS c, 1 AS h, 0 AS n, 0 AS u FROM S.items WHERE source = %(s)s
              UNION ALL SELECT unnest(not_has), 0, 1, 0 FROM S.items WHERE source = %(s)s
              UNION ALL SELECT unnest(uncertain), 0, 0, 1 FROM S.items WHERE source = %(s)s) x GROUP BY c
            ON CONFLICT (concept) DO UPDATE SET n_has = cc.n_has {op} abs(EXCLUDED.n_has),
              n_not_has = cc.n_not_has {op} abs(EXCLUDED.n_not_has),
              n_uncertain = cc.n_uncertain {op} abs(EXCLUDED.n_uncertain)""", {"s": source})

    def _shared_ids(self, source: str) -> int:
        """How many of ``source``'s item ids also belong to another source (duplicate content)."""
        row = self._x("SELECT count(*) FROM S.items a WHERE a.source = %(s)s AND EXISTS "
                      "(SELECT 1 FROM S.items b WHERE b.id = a.id AND b.source <> %(s)s)", {"s": source}).fetchone()
        return int(row[0])

    def _delete_source_rows(self, source: str) -> int:
        if not self._has_items():
            return 0
        shared = self._shared_ids(source)
        self._count_delta(source, -1)
        postgres_lexical.lex_delta(self._x, source, -1)
        n = self._x("DELETE FROM S.items WHERE source = %s", (source,)).rowcount
        self._x("UPDATE S.meta SET value = (value::bigint - %s)::text WHERE key = 'n_dup'", (shared,))
        self._x("UPDATE S.meta SET value = (value::bigint - %s)::text WHERE key = 'n_rows'", (n,))
        return int(n)

    def replace_source(self, record: SourceRecord, items: Sequence[Item]) -> None:
        self.replace_many([(record, items)])

    def replace_many(self, batch: Sequence[tuple[SourceRecord, Sequence[Item]]]) -> None:
        """Replace several sources in one transaction (bulk ingest); each source is replaced atomically."""
        dim = self._dim
        for record, items in batch:
            dim = _codec.validate_batch(record, items, dim)
        if len({r.source for r, _ in batch}) != len(batch):
            raise StoreError("a source appears twice in one replace_many batch")
        try:
            with self._conn.transaction():
                if dim is not None:
                    self._ensure_items(dim)
                names = sorted({n for _, items in batch for n in _codec.concept_names(items)})
                ids = self._concept_ids(names)
                for record, _ in batch:
                    self._x("SELECT pg_advisory_xact_lock(hashtext(%s))", (record.source,))
                    self._delete_source_rows(record.source)
                rows = [(record, it) for record, items in batch for it in items]
                if rows:
                    assert self._dim is not None
                    with self._conn.cursor() as cur:
                        with cur.copy(f"COPY {self.schema}.items ({', '.join(COLUMNS)}) FROM STDIN "
                                      "WITH (FORMAT BINARY)") as copy:
                            copy.set_types(COPY_TYPES)
                            for _, it in rows:
                                r = _codec.item_to_row(it, ids, self._dim)
                                copy.write_row([r[c] for c in COLUMNS])
                    postgres_lexical.write_lex(self._x, [(it.source, it.id, *_codec.item_lexical_counts(it))
                                                         for _, it in rows])
                    self._x("UPDATE S.meta SET value = (value::bigint + %s)::text WHERE key = 'n_rows'",
                            (len(rows),))
                for record, _ in batch:
                    if self._dim is not None:
                        self._count_delta(record.source, +1)
                        postgres_lexical.lex_delta(self._x, record.source, +1)
                        self._x("UPDATE S.meta SET value = (value::bigint + %s)::text WHERE key = 'n_dup'",
                                (self._shared_ids(record.source),))
                    self._x("INSERT INTO S.sources VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT (source) DO UPDATE "
                            "SET source_hash = EXCLUDED.source_hash, n_items = EXCLUDED.n_items, "
                            "meta = EXCLUDED.meta",
                            (record.source, record.source_hash, record.n_items, _codec.record_to_json(record)))
                log_changes(self._x, [r.source for r, _ in batch])
        except self._psycopg.Error as exc:
            self._vocab.clear()  # ids inserted by the rolled-back transaction do not exist
            raise StoreError(f"writing to PostgreSQL failed: {exc}") from exc
        if self._auto_ann and self._dim is not None and self.count() >= self._polar.exact_max:
            self.ensure_ann_index()

    def remove_source(self, source: str) -> int:
        with self._conn.transaction():
            self._x("SELECT pg_advisory_xact_lock(hashtext(%s))", (source,))
            n = self._delete_source_rows(source)
            self._x("DELETE FROM S.sources WHERE source = %s", (source,))
            log_changes(self._x, [source])
        return n

    # ---------------------------------------------------------------- reads
    def sources(self) -> dict[str, SourceRecord]:
        rows = self._x("SELECT source, source_hash, n_items, meta FROM S.sources ORDER BY source").fetchall()
        return {r[0]: SourceRecord(r[0], r[1], int(r[2]), dict(r[3] or {})) for r in rows}

    def _select(self) -> str:
        return f"SELECT {', '.join(COLUMNS)} FROM {self.schema}.items"

    def _to_item(self, row: Sequence[Any]) -> Item:
        d = dict(zip(COLUMNS, row, strict=True))
        v = d["vector"]
        d["vector"] = np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32)
        return _codec.row_to_item(d)

    def get(self, ids: Sequence[str]) -> list[Item]:
        if not ids or not self._has_items():
            return []
        rows = self._x(self._select() + " WHERE id = ANY(%s::text[]) ORDER BY source", (list(ids),)).fetchall()
        by_id: dict[str, Item] = {}
        for r in rows:
            by_id.setdefault(r[0], self._to_item(r))
        return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]

    def items_of(self, source: str) -> list[Item]:
        if not self._has_items():
            return []
        return [self._to_item(r) for r in self._x(self._select() + " WHERE source = %s", (source,)).fetchall()]

    def iter_items(self, batch_size: int = 1024) -> Iterator[Item]:
        if not self._has_items():
            return
        last: tuple[str, str] = ("", "")
        first = True
        while True:
            where = "" if first else " WHERE (source, id) > (%s, %s)"
            rows = self._x(self._select() + where + f" ORDER BY source, id LIMIT {int(batch_size)}",
                           None if first else last).fetchall()
            if not rows:
                return
            for r in rows:
                yield self._to_item(r)
            first = False
            last = (rows[-1][1], rows[-1][0])

    def count(self) -> int:
        return self._meta_int("n_rows") or 0

    # ---------------------------------------------------------------- search
    def _plan_stats(self, pos: list[int], neg: list[int]) -> tuple[int, int, int, int, bool]:
        """One round trip: live rows, duplicate ids, VERIFIED / CONFLICT tier upper bounds (summed
        posting-list sizes), and whether the HNSW index exists."""
        row = self._x("""SELECT (SELECT value::bigint FROM S.meta WHERE key = 'n_rows'),
                (SELECT value::bigint FROM S.meta WHERE key = 'n_dup'),
                coalesce(sum(n_has) FILTER (WHERE concept = ANY(%(p)s::int4[])), 0),
                coalesce(sum(n_not_has) FILTER (WHERE concept = ANY(%(p)s::int4[])), 0)
                + coalesce(sum(n_has) FILTER (WHERE concept = ANY(%(n)s::int4[])), 0),
                EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = %(s)s AND indexname = 'items_vec')
              FROM S.concept_count WHERE concept = ANY(%(p)s::int4[] || %(n)s::int4[])""",
                      {"p": pos, "n": neg, "s": self.schema}).fetchone()
        return int(row[0] or 0), int(row[1] or 0), int(row[2]), int(row[3]), bool(row[4])

    def _set_ef(self, limit: int) -> None:
        """Session settings for the ANN path, sent only when they change.

        ef_search is raised to 100 × the rows needed (1000, the most, for k = 10): on clustered data the
        configured 128 missed a top-10 neighbour in about 1 of 100 huge-tier queries at 200k items. At 1M
        items huge and unfiltered queries kept recall@10 0.993 / 0.997 with ef 1000 as with 400 (the misses
        are not the beam's), so 1000 buys nothing measured there and costs latency at 200k (p50 6.9 →
        14.4 ms together with the exact tiers up to 32k); kept until the two are measured apart."""
        ef = min(max(int(self._polar.hnsw_ef_search), 100 * limit), 1000)
        if ef != self._ef:
            self._x(f"SET hnsw.ef_search = {ef}")
            if self._ef == 0:
                self._x("SET hnsw.iterative_scan = strict_order")
                self._x("SET hnsw.max_scan_tuples = 50000")
            self._ef = ef

    def _tier(self, where: str, params: dict[str, Any], limit: int, exact: bool) -> list[tuple[str, float]]:
        # ``+ 0`` hides the ordering from the HNSW index: the planner must score the tier exactly
        # (GIN bitmap scan of the posting lists, or a sequential scan) and keep a top-N heap.
        order = "(vector <=> %(q)b) + 0" if exact else "vector <=> %(q)b"
        if not exact:
            self._set_ef(limit)
        sql = (f"SELECT id, vector <=> %(q)b AS d FROM {self.schema}.items WHERE {where} "
               f"ORDER BY {order} LIMIT {int(limit)}")
        return [(r[0], 1.0 - float(r[1])) for r in self._x(sql, params).fetchall()]

    def search(self, vector: np.ndarray, query: LogicQuery, k: int, text: TextQuery | None = None
               ) -> list[ScoredId]:
        """The in-process index (``pg_search = "index"``), or tiers in SQL, best first; with ``text``, each
        tier's dense top-k is fused with every row of the tier that holds a query term (exact:
        :mod:`vimrag.index.fusion`), scored as the embedded store does."""
        if k <= 0 or not self._has_items():
            return []
        q = _codec.as_f32_vector(vector, self._dim, "query")
        pos = _codec.map_query(query.positive, self._lookup)
        neg = _codec.map_negative(query.negative, self._lookup, query.strict_negation)
        if self._index is not None:
            with self._index.lock:
                try:
                    index_state = self._index.state()
                except self._psycopg.Error as exc:
                    raise StoreError(f"reading PostgreSQL for the search index failed: {exc}".strip()) from exc
                return search_state(index_state, _codec.normalize_rows(q[None, :])[0], pos, neg, k, text,
                                    query.strict_negation)
        total, n_dup, est_v, est_c, ann = self._plan_stats(pos, neg)
        if total == 0:
            return []
        conflict = "(not_has && %(p)s::int4[] OR has && %(n)s::int4[])"
        verified = "has && %(p)s::int4[]"
        if query.strict_negation and neg:  # strict negation: every Q− concept verified absent
            verified = f"({verified} AND not_has @> %(n)s::int4[])"
        tiers = [
            (LogicState.VERIFIED, f"{verified} AND NOT {conflict}", est_v),
            (LogicState.UNCERTAIN, f"NOT {verified} AND NOT {conflict}", max(total - est_v - est_c, 0)),
            (LogicState.CONFLICT, conflict, est_c),
        ]
        params = {"q": q, "p": pos, "n": neg}
        lam = min(max(float(text.weight), 0.0), 1.0) if text is not None else 0.0
        lexical: dict[LogicState, list[tuple[str, float, float]]] = {}
        top = 0.0
        if text is not None and text.terms:
            state_sql = f"CASE WHEN {conflict} THEN -1 WHEN {verified} THEN 1 ELSE 0 END"
            for rid, st, d, b in postgres_lexical.candidates(self._x, text.terms, total, q, state_sql, params):
                lexical.setdefault(LogicState(st), []).append((rid, d, b))
                top = max(top, b)
        out: list[ScoredId] = []
        seen: set[str] = set()
        for state, where, est in tiers:
            if len(out) >= k:
                break
            if state is LogicState.VERIFIED and not pos:
                continue
            if state is LogicState.CONFLICT and not (pos or neg):
                continue
            need = k - len(out) + n_dup
            # UNCERTAIN's estimate is a lower bound, so it is only planned as huge when it really is.
            exact = (not ann) or est <= self._polar.exact_max
            rows = self._tier(where, params, need, exact)
            if not exact and len(rows) < need:
                rows = self._tier(where, params, need, True)  # the index ran out: redo exactly
            if text is not None:
                scored = self._fused(rows, lexical.get(state, []), top, lam, need)
            else:
                scored = [(rid, sim, sim, 0.0) for rid, sim in rows]
            for rid, sim, dense, bm in scored:
                if rid not in seen and len(out) < k:
                    seen.add(rid)
                    out.append(ScoredId(rid, state, sim, dense, bm))
        return out

    @staticmethod
    def _fused(dense_rows: list[tuple[str, float]], lex_rows: list[tuple[str, float, float]], top: float,
               lam: float, need: int) -> list[tuple[str, float, float, float]]:
        """One tier's dense top rows ∪ its lexical rows by (fused desc, cosine desc, id): (id, fused, cos, bm25)."""
        cand: dict[str, tuple[float, float]] = {rid: (sim, 0.0) for rid, sim in dense_rows}
        for rid, d, b in lex_rows:
            cand[rid] = (d, b)
        scored = [(rid, fuse(d, b / top if top > 0 else 0.0, lam), d, b) for rid, (d, b) in cand.items()]
        scored.sort(key=lambda r: (-r[1], -r[2], r[0]))
        return scored[:need]

    # ---------------------------------------------------------------- cache
    def cache_get(self, keys: Sequence[str]) -> dict[str, float]:
        if not keys:
            return {}
        rows = self._x("SELECT key, score FROM S.cache WHERE key = ANY(%s::text[])", (list(keys),)).fetchall()
        return {r[0]: float(r[1]) for r in rows}

    def cache_put(self, values: dict[str, float]) -> None:
        if not values:
            return
        self._x("INSERT INTO S.cache SELECT * FROM unnest(%s::text[], %s::float8[]) ON CONFLICT (key) "
                "DO UPDATE SET score = EXCLUDED.score", (list(values), [float(v) for v in values.values()]))

    def close(self) -> None:
        """Keep the in-process index for the next process (``pg_search = "index"``) and disconnect."""
        if self._index is not None:
            with self._index.lock:
                self._index.close()
        if not self._conn.closed:
            self._conn.close()

    def drop(self) -> None:
        """Delete the whole store (its schema). For tests and ``vimrag reset``."""
        self._x(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        if self._index is not None:
            self._index.forget()
        self._vocab.clear()
        self._dim = None


def list_workspaces(uri: str, connect_timeout: int = 10) -> list[str]:
    """The workspaces of the store at ``uri``: ``default`` for its schema, NAME for each ``<schema>_NAME``
    schema that holds a store (``vimrag.store.factory.workspace_location``)."""
    psycopg = require("psycopg", "postgres", "psycopg[binary]")
    conninfo, schema = split_schema(uri)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=connect_timeout) as conn:
            rows = conn.execute(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'sources' "
                "AND (table_schema = %s OR starts_with(table_schema, %s)) ORDER BY table_schema",
                (schema, schema + "_")).fetchall()
    except psycopg.OperationalError as exc:
        raise StoreError(f"cannot connect to PostgreSQL: {exc}".strip()) from exc
    names = [r[0] for r in rows]
    out = ["default"] if schema in names else []
    return out + [n[len(schema) + 1:] for n in names if n != schema]
