"""The in-process index state of a store and its persistence: what makes a store's search exact and fast.

:class:`IndexState` maps PolarIndex rows ↔ (source, item id), counts concept edges for ``vocabulary()``
and holds the BM25 index of the same rows; :func:`search_state` is the one search over it (Algorithm 1
with the fused similarity). Both stores use it: the embedded LanceStore always, the PostgresStore with
``polar.pg_search = "index"`` (:mod:`vimrag.store.postgres_index`). A state is saved with a *stamp* of
the tables it reflects (``<uri>/index`` for LanceDB, the user cache for PostgreSQL), so a new process
loads it instead of rebuilding it; a stale or unreadable copy is rebuilt from the tables (and said so in
the log).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vimrag.errors import StoreError
from vimrag.index import PolarIndex
from vimrag.index.fusion import search_fused
from vimrag.index.lexical import LexicalIndex
from vimrag.store import _codec
from vimrag.store.base import ScoredId, TextQuery
from vimrag.store.lance_arrow import int_lists
from vimrag.types import LogicState

_log = logging.getLogger(__name__)


class IndexState:
    """Rows of the PolarIndex ↔ (source, item id), per-concept edge counts for ``vocabulary()``, and the
    BM25 index of the same rows (the lexical channel, :mod:`vimrag.index.lexical`)."""

    def __init__(self, index: PolarIndex, counts: np.ndarray, lex: LexicalIndex | None = None) -> None:
        self.index = index
        self.lex = lex if lex is not None else LexicalIndex()
        self.counts = counts.astype(np.int64)
        self.row_key: list[tuple[str, str]] = []
        self.src_rows: dict[str, dict[str, int]] = {}
        self.id_count: Counter[str] = Counter()
        self.n_dup = 0  # rows whose id another source also has (same content at two paths)

    def link(self, row: int, source: str, iid: str) -> None:
        self.src_rows.setdefault(source, {})[iid] = row
        self.id_count[iid] += 1
        if self.id_count[iid] > 1:
            self.n_dup += 1

    def unlink_id(self, iid: str) -> None:
        self.id_count[iid] -= 1
        if self.id_count[iid] >= 1:
            self.n_dup -= 1
        else:
            del self.id_count[iid]

    def count_concepts(self, lists: Sequence[Any], sign: int) -> None:
        flat = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists]) if lists else np.zeros(0, np.int64)
        if flat.size == 0:
            return
        top = int(flat.max()) + 1
        if top > self.counts.size:
            self.counts = np.concatenate([self.counts, np.zeros(top - self.counts.size, np.int64)])
        np.add.at(self.counts, flat, sign)

    def remove_source(self, source: str, concepts: list[np.ndarray]) -> int:
        """Tombstone a source's rows and uncount its concept edges; returns the rows removed."""
        rows = self.src_rows.pop(source, {})
        self.count_concepts(concepts, -1)
        if not rows:
            return 0
        gone = np.fromiter(rows.values(), dtype=np.int64)
        self.index.remove(gone)
        self.lex.remove(gone)
        for iid in rows:
            self.unlink_id(iid)
        return len(rows)

    def add_batch(self, batch: Any, dim: int, names: dict[int, str]) -> None:
        """Add an arrow batch of committed rows (the LanceDB store); ``names`` maps concept ids to names."""
        vec = batch.column("vector")
        flat = vec.values.to_numpy(zero_copy_only=False) if hasattr(vec, "values") else vec.combine_chunks().values
        has = int_lists(batch.column("has"))
        cols = {c: batch.column(c).to_pylist() for c in ("source", "id", "text", "meta", "locator")}
        self.add_rows(cols["source"], cols["id"], np.asarray(flat, dtype=np.float32).reshape(-1, dim),
                      has, int_lists(batch.column("not_has")), int_lists(batch.column("uncertain")),
                      cols["text"], cols["meta"], cols["locator"], names)

    def add_rows(self, sources: Sequence[str], ids: Sequence[str], vectors: np.ndarray, has: Sequence[Any],
                 not_has: Sequence[Any], uncertain: Sequence[Any], texts: Sequence[str], metas: Sequence[Any],
                 locators: Sequence[Any], names: dict[int, str]) -> None:
        """Add committed rows to the index, the BM25 index, the row map and the concept counts (verified
        concepts are words of the lexical channel, so their names are needed); vectors are normalised here."""
        mat = _codec.normalize_rows(np.asarray(vectors, dtype=np.float32))
        with one_blas_thread():
            rows = self.index.add(mat, has, not_has)
        docs = [_codec.lexical_counts(src, text, meta, loc, [names.get(int(c), "") for c in h])
                for src, text, meta, loc, h in zip(sources, texts, metas, locators, has, strict=True)]
        lex_rows = self.lex.add(docs)
        if lex_rows.tolist() != rows.tolist():
            raise StoreError("the lexical index lost step with the PolarIndex; it will be rebuilt on the next open")
        for row, src, iid in zip(rows.tolist(), sources, ids, strict=True):
            self.row_key.append((src, iid))
            self.link(row, src, iid)
        self.count_concepts([*has, *not_has, *uncertain], +1)


def search_state(st: IndexState, q: np.ndarray, pos: Sequence[int], neg: Sequence[int], k: int,
                 text: TextQuery | None, strict: bool) -> list[ScoredId]:
    """Exact top-k of Algorithm 1 over ``st`` (``q`` normalised, concepts already mapped to ids): one hit per
    item id (the same content at two paths is one item), with the fused similarity when ``text`` has terms."""
    if k <= 0 or len(st.index) == 0:
        return []
    want = k + st.n_dup
    if text is not None and text.terms:
        lrows, lscores = st.lex.search(text.terms)
        rows, states, sims, dense, lex = search_fused(st.index, q, pos, neg, want, lrows, lscores, text.weight,
                                                      strict=strict)
    else:
        rows, states, sims = st.index.search(q, pos, neg, want, strict=strict)
        dense, lex = sims, np.zeros(rows.size)
    out: list[ScoredId] = []
    seen: set[str] = set()
    for r, s, v, d, x in zip(rows.tolist(), states.tolist(), sims.tolist(), dense.tolist(), lex.tolist(),
                             strict=True):
        iid = st.row_key[r][1]
        if iid in seen:
            continue
        seen.add(iid)
        out.append(ScoredId(iid, LogicState(int(s)), float(v), float(d), float(x)))
        if len(out) == k:
            break
    return out


def load_state(d: Path, stamp: dict[str, Any]) -> IndexState | None:
    """The state saved in ``d`` if it reflects the tables at ``stamp``, else None (rebuild)."""
    try:
        saved = json.loads((d / "stamp.json").read_text())
    except FileNotFoundError:
        return None  # never saved: the first build
    except (OSError, ValueError) as exc:
        _log.warning("saved PolarIndex stamp unreadable (%s); rebuilding the index from the tables", exc)
        return None
    if saved != stamp:
        _log.info("saved PolarIndex is stale (the tables changed since); rebuilding it")
        return None
    try:
        index = PolarIndex.load(d / "polar")
        lex = LexicalIndex.load(d / "lex")
        rows = json.loads((d / "rows.json").read_text())
        counts = np.load(d / "counts.npy")
    except (OSError, ValueError, StoreError) as exc:
        _log.warning("saved PolarIndex unreadable (%s); rebuilding the index from the tables", exc)
        return None
    if lex.n_rows != index.n_rows:
        _log.warning("saved lexical index does not match the PolarIndex; rebuilding the index from the tables")
        return None
    st = IndexState(index, counts, lex)
    for row, (src, iid) in enumerate(zip(rows["source"], rows["id"], strict=True)):
        st.row_key.append((src, iid))
        if rows["alive"][row]:
            st.link(row, src, iid)
    return st


def save_state(d: Path, st: IndexState, stamp: dict[str, Any]) -> None:
    """Write ``st`` to ``d`` whole (beside, then renamed): a crash leaves the old copy or the new one."""
    tmp = d.with_name("index.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        st.index.save(tmp / "polar")
        st.lex.save(tmp / "lex")
        alive = [False] * len(st.row_key)
        for rows in st.src_rows.values():
            for r in rows.values():
                alive[r] = True
        (tmp / "rows.json").write_text(json.dumps({"source": [k[0] for k in st.row_key],
                                                   "id": [k[1] for k in st.row_key], "alive": alive}))
        np.save(tmp / "counts.npy", st.counts)
        (tmp / "stamp.json").write_text(json.dumps(stamp))
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk leaves the old index, not half a new one
        raise
    old = d.with_name("index.old")
    shutil.rmtree(old, ignore_errors=True)
    if d.exists():
        d.rename(old)
    tmp.rename(d)
    shutil.rmtree(old, ignore_errors=True)


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread while the index is maintained (projection fit and row projection).

    Measured on the 2-core machine while another process kept ~1.5 cores busy: OpenBLAS with 2 threads
    took 2.4 s for the 384×384 ``eigh`` of the projection fit and 1.2 s for its 65k-row Gram matrix (one
    thread: 0.014 s and 0.08 s). Results are the same; only the thread count changes. faiss's OpenMP pool
    (HNSW insertion) is not affected. Without ``threadpoolctl`` this is a no-op.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
