"""In-process exact index for PolarMem's lexicographic logic-aware retrieval (Algorithm 1).

Rows are identified by dense int64 row numbers, stable for the life of the index (removed rows become
tombstones; they are never reused). Concepts are int32 ids. The logic state of a row for a query
(Q+, Q−) is: CONFLICT if Q+ ∩ NOT_HAS ≠ ∅ or Q− ∩ HAS ≠ ∅; else VERIFIED if Q+ ∩ HAS ≠ ∅; else UNCERTAIN.
Results are ordered by (state desc, similarity desc), ties broken by row id ascending.

How it is fast (the paper evaluates the logic item by item, ≈1 s per query at 200k items):

1. **Posting lists.** HAS and NOT_HAS are CSR posting lists per concept. The tier of every row is set
   by scattering the query's posting lists into an int8 state vector (set algebra, O(Σ|postings|)).
2. **Plan per tier, best tier first.** A tier is scored only if the tiers above it hold fewer than k
   rows. A tier with at most ``exact_max`` rows is scored exactly (gather + one matmul). A larger tier
   uses an HNSW graph (faiss, m=32, efConstruction=128; built by ``add`` once the index holds
   ``ann_min_rows`` rows, never by a query) restricted to the tier by an ``IDSelectorBitmap``,
   with ``efSearch`` scaled by the inverse selectivity of the tier. Filtered HNSW loses recall precisely
   when few rows match (the 100–5k case), which is where we score exactly instead; on large tiers the
   graph's beam is far wider than k, so it does not change the top-k in practice (the benchmark checks
   recall@10 = 1.0 against brute force on every query). Stores below ``ann_min_rows`` never use the graph.
3. **Incremental.** New rows go to a delta segment scanned with ``np.isin`` until it is worth merging
   into the posting lists; they are added to the HNSW graph immediately. Removal sets a tombstone
   (the tier bitmaps exclude it); ``needs_rebuild`` says when tombstones exceed a quarter of the graph,
   and ``build_ann()`` rebuilds it (the store's ``optimize``). Without faiss everything is scored exactly.

Deviation from the paper: PolarMem ranks by a Cypher query over Neo4j plus Milvus similarity; we keep
its order (Algorithm 1) but evaluate it with the plan above.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vimrag._extras import require
from vimrag.errors import StoreError

_FORMAT = 1


def logic_states(
    has: Sequence[np.ndarray], not_has: Sequence[np.ndarray], pos: Sequence[int], neg: Sequence[int]
) -> np.ndarray:
    """Per-row logic state (−1/0/+1) by direct evaluation, item by item, as the paper's loop does."""
    pos_s, neg_s = {int(c) for c in pos}, {int(c) for c in neg}
    out = np.zeros(len(has), dtype=np.int8)
    for i, (h, n) in enumerate(zip(has, not_has, strict=True)):
        hs = set(h.tolist())
        if pos_s & set(n.tolist()) or neg_s & hs:
            out[i] = -1
        elif pos_s & hs:
            out[i] = 1
    return out


def _as_ids(values: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(values, dtype=np.int64).reshape(-1)).astype(np.int32)


def _csr(lists: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    lens = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum(lens, out=ptr[1:])
    flat = (
        np.concatenate([np.asarray(x, dtype=np.int32).reshape(-1) for x in lists])
        if len(lists)
        else np.zeros(0, dtype=np.int32)
    )
    if flat.dtype != np.int32:
        flat = flat.astype(np.int32)
    return ptr, flat


class _Postings:
    """Concept → sorted rows, CSR over rows [0, n_rows); head concepts also as dense bool masks.

    Scattering a posting list of 100k rows costs more than OR-ing a 200 kB mask, so concepts whose
    list exceeds ``n_rows / dense_div`` keep a dense mask too (a few MB for a Zipf vocabulary).
    """

    def __init__(self, row_ptr: np.ndarray, row_ids: np.ndarray, n_rows: int, dense_div: int = 48) -> None:
        ids = row_ids[: row_ptr[n_rows]]
        n_concepts = int(ids.max()) + 1 if ids.size else 0
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(row_ptr[: n_rows + 1]))
        order = np.argsort(ids, kind="stable")
        self.rows = rows[order]
        counts = np.bincount(ids, minlength=n_concepts)
        self.ptr = np.zeros(n_concepts + 1, dtype=np.int64)
        np.cumsum(counts, out=self.ptr[1:])
        self.n_rows = n_rows
        self.dense: dict[int, np.ndarray] = {}
        for c in np.flatnonzero(counts > max(256, n_rows // dense_div)).tolist():
            m = np.zeros(n_rows, dtype=bool)
            m[self.rows[self.ptr[c] : self.ptr[c + 1]]] = True
            self.dense[c] = m

    def size(self, c: int) -> int:
        return int(self.ptr[c + 1] - self.ptr[c]) if 0 <= c < len(self.ptr) - 1 else 0

    def mark(self, concepts: np.ndarray, out: np.ndarray) -> None:
        """Set ``out[row] = True`` for every row in the posting lists of ``concepts``."""
        n = len(self.ptr) - 1
        for c in concepts.tolist():
            if not 0 <= c < n:
                continue
            d = self.dense.get(c)
            if d is not None:
                np.logical_or(out[: self.n_rows], d, out=out[: self.n_rows])
            else:
                out[self.rows[self.ptr[c] : self.ptr[c + 1]]] = True


class PolarIndex:
    """Exact lexicographic top-k over (logic state, cosine similarity).

    >>> import numpy as np
    >>> idx = PolarIndex(2)
    >>> rows = idx.add(np.eye(2, dtype=np.float32), [np.array([7]), np.array([])], [np.array([]), np.array([7])])
    >>> r, s, _ = idx.search(np.array([0, 1], np.float32), pos=[7], neg=[], k=2)
    >>> r.tolist(), s.tolist()   # row 0 HAS 7 (verified) beats the more similar row 1 that does NOT have 7
    ([0, 1], [1, -1])
    """

    def __init__(
        self,
        dim: int,
        *,
        exact_max: int = 16384,
        ann_min_rows: int = 50_000,
        hnsw_m: int = 32,
        hnsw_ef_construction: int = 128,
        hnsw_ef_search: int = 128,
        ef_max: int = 2048,
    ) -> None:
        self.dim = int(dim)
        self.exact_max = int(exact_max)
        self.ann_min_rows = int(ann_min_rows)
        self.hnsw_m = int(hnsw_m)
        self.hnsw_ef_construction = int(hnsw_ef_construction)
        self.hnsw_ef_search = int(hnsw_ef_search)
        self.ef_max = int(ef_max)
        self._n = 0
        self._vecs = np.zeros((0, self.dim), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._dead = np.zeros(0, dtype=np.int64)
        # Per-row concept CSR (consolidated lazily from pending chunks).
        self._rows: dict[str, tuple[np.ndarray, np.ndarray]] = {
            "has": (np.zeros(1, np.int64), np.zeros(0, np.int32)),
            "not": (np.zeros(1, np.int64), np.zeros(0, np.int32)),
        }
        self._pending: dict[str, list[Sequence[Any]]] = {"has": [], "not": []}
        self._post: dict[str, _Postings] | None = None
        self._built = 0  # rows covered by the posting lists; rows above are the delta segment
        self._ann: Any = None  # faiss IndexIDMap(IndexHNSWFlat)
        self._ann_rows = 0  # rows [0, _ann_rows) were offered to the graph
        self._ann_dead = 0
        self._faiss: Any = False  # module, None when not installed, False before the first look

    @classmethod
    def from_config(cls, dim: int, config: Any) -> PolarIndex:
        """Build from a :class:`vimrag.config.PolarConfig` (``index_exact_max``, ``hnsw_*``)."""
        return cls(
            dim,
            exact_max=getattr(config, "index_exact_max", config.exact_max),
            hnsw_m=config.hnsw_m,
            hnsw_ef_construction=config.hnsw_ef_construction,
            hnsw_ef_search=config.hnsw_ef_search,
        )

    # ------------------------------------------------------------------ size and storage
    def __len__(self) -> int:
        return self._n - len(self._dead)

    @property
    def n_rows(self) -> int:
        """Rows ever added (alive or tombstoned): the next row id."""
        return self._n

    @property
    def vectors(self) -> np.ndarray:
        return self._vecs[: self._n]

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        cap = self._vecs.shape[0]
        if need <= cap:
            return
        new_cap = max(need, int(cap * 1.5) + 1024)
        vecs = np.empty((new_cap, self.dim), dtype=np.float32)
        vecs[: self._n] = self._vecs[: self._n]
        alive = np.zeros(new_cap, dtype=bool)
        alive[: self._n] = self._alive[: self._n]
        self._vecs, self._alive = vecs, alive

    def _row_csr(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        pend = self._pending[kind]
        if pend:
            ptr, ids = self._rows[kind]
            lists = [x for chunk in pend for x in chunk]
            p2, i2 = _csr(lists)
            self._rows[kind] = (np.concatenate([ptr, ptr[-1] + p2[1:]]), np.concatenate([ids, i2]))
            pend.clear()
        return self._rows[kind]

    def add(
        self,
        vectors: np.ndarray,
        has: Sequence[np.ndarray | Sequence[int]],
        not_has: Sequence[np.ndarray | Sequence[int]],
    ) -> np.ndarray:
        """Append rows (vectors must be L2-normalised for cosine); returns their row ids."""
        v = np.asarray(vectors)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"vectors must have shape (n, {self.dim}), got {v.shape}")
        if not (len(v) == len(has) == len(not_has)):
            raise ValueError("vectors, has and not_has must have the same length")
        v = np.ascontiguousarray(v, dtype=np.float32)
        if not np.isfinite(v).all():
            raise ValueError("vectors contain NaN or inf")
        m = len(v)
        self._reserve(m)
        start = self._n
        self._vecs[start : start + m] = v
        self._alive[start : start + m] = True
        self._n += m
        self._pending["has"].append(list(has))
        self._pending["not"].append(list(not_has))
        if self._ann is not None:
            self._ann_add(start, self._n)
        elif len(self) >= self.ann_min_rows and self._faiss_mod() is not None:
            self.build_ann()  # once the store is large enough; ingest pays for it, never a query
        return np.arange(start, start + m, dtype=np.int64)

    def remove(self, rows: Sequence[int] | np.ndarray) -> None:
        """Tombstone rows; unknown or already removed rows are ignored."""
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        r = r[(r >= 0) & (r < self._n)]
        r = np.unique(r[self._alive[r]])
        if not r.size:
            return
        self._alive[r] = False
        self._dead = np.union1d(self._dead, r)
        if self._ann is not None:
            self._ann_dead += int(np.count_nonzero(r < self._ann_rows))

    @property
    def needs_rebuild(self) -> bool:
        """True when tombstones exceed a quarter of the HNSW graph: call :meth:`build_ann` (e.g. in optimize)."""
        return self._ann is not None and self._ann_dead > 0.25 * max(1, self._ann.ntotal)

    # ------------------------------------------------------------------ posting lists
    def _postings(self) -> dict[str, _Postings]:
        delta = self._n - self._built
        if self._post is None or delta > max(4096, self._built // 16):
            self._post = {k: _Postings(*self._row_csr(k), self._n) for k in ("has", "not")}
            self._built = self._n
        return self._post

    def _mark(self, kind: str, concepts: np.ndarray, out: np.ndarray) -> None:
        """Mark rows having ``concepts`` under ``kind`` (HAS / NOT): posting lists plus the delta segment."""
        if not concepts.size:
            return
        if self._post is not None:
            self._post[kind].mark(concepts, out)
        if self._n > self._built:
            ptr, ids = self._row_csr(kind)
            a, b = ptr[self._built], ptr[self._n]
            hit = np.flatnonzero(np.isin(ids[a:b], concepts))
            if hit.size:
                out[np.searchsorted(ptr, a + hit, side="right") - 1] = True

    def estimate(self, pos: Sequence[int], neg: Sequence[int]) -> dict[str, int]:
        """Cheap upper bounds on tier sizes from posting-list lengths (the planner's estimate)."""
        post = self._postings()
        p, n = _as_ids(pos), _as_ids(neg)
        ver = sum(post["has"].size(int(c)) for c in p)
        con = sum(post["not"].size(int(c)) for c in p) + sum(post["has"].size(int(c)) for c in n)
        return {"verified_max": ver, "conflict_max": con, "rows": len(self)}

    def tier_masks(self, pos: Sequence[int], neg: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boolean masks of the VERIFIED, UNCERTAIN and CONFLICT tiers over alive rows (set algebra)."""
        self._postings()
        p, n = _as_ids(pos), _as_ids(neg)
        ver = np.zeros(self._n, dtype=bool)
        con = np.zeros(self._n, dtype=bool)
        self._mark("has", p, ver)
        self._mark("not", p, con)
        self._mark("has", n, con)
        alive = self._alive[: self._n]
        conflict = con & alive
        free = alive & ~con
        return ver & free, free & ~ver, conflict

    def states(self, pos: Sequence[int], neg: Sequence[int]) -> np.ndarray:
        """Logic state of every row (int8: 1, 0, −1; −2 for removed rows)."""
        v, u, c = self.tier_masks(pos, neg)
        state = np.full(self._n, -2, dtype=np.int8)
        state[v], state[u], state[c] = 1, 0, -1
        return state

    # ------------------------------------------------------------------ ANN
    def _faiss_mod(self) -> Any:
        if self._faiss is False:
            try:
                import faiss

                self._faiss = faiss
            except ImportError:
                self._faiss = None
        return self._faiss

    def build_ann(self) -> None:
        """Build the HNSW graph over the alive rows now (otherwise built on first need)."""
        faiss = require("faiss", "store", "faiss-cpu")
        faiss.omp_set_num_threads(max(1, os.cpu_count() or 1))
        hnsw = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = self.hnsw_ef_construction
        ann = faiss.IndexIDMap(hnsw)
        rows = np.flatnonzero(self._alive[: self._n]).astype(np.int64)
        for a in range(0, rows.size, 65536):
            ann.add_with_ids(self._vecs[rows[a : a + 65536]], rows[a : a + 65536])
        self._ann, self._ann_rows, self._ann_dead = ann, self._n, 0

    def _ann_add(self, a: int, b: int) -> None:
        rows = np.arange(a, b, dtype=np.int64)
        rows = rows[self._alive[a:b]]
        if rows.size:
            self._ann.add_with_ids(self._vecs[rows], rows)
        self._ann_rows = b

    def _ann_search(self, q: np.ndarray, mask: np.ndarray, count: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        faiss = require("faiss", "store", "faiss-cpu")
        bitmap = np.packbits(mask, bitorder="little")
        sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        frac = count / max(1, self._ann.ntotal)  # tombstoned nodes are still in the graph
        ef = int(min(self.ef_max, max(self.hnsw_ef_search, 4 * k, np.ceil(2 * k / frac))))
        params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
        faiss.omp_set_num_threads(1)  # one query: OpenMP workers only add wake-up latency
        sims, labels = self._ann.search(q.reshape(1, -1), k, params=params)
        ok = labels[0] >= 0
        return labels[0][ok], sims[0][ok]

    # ------------------------------------------------------------------ search
    def _exact(self, q: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        faiss = self._faiss_mod()
        if faiss is not None:
            # Inner products straight from the row ids: no gathered copy, no BLAS thread pool (whose
            # wake-up costs more than a 16k×384 product on a busy machine).
            rows = np.ascontiguousarray(rows, dtype=np.int64)
            sims = np.empty(rows.size, dtype=np.float32)
            faiss.fvec_inner_products_by_idx(
                faiss.swig_ptr(sims), faiss.swig_ptr(q), faiss.swig_ptr(self._vecs), faiss.swig_ptr(rows),
                self.dim, 1, rows.size,
            )
        else:
            sims = np.take(self._vecs, rows, axis=0) @ q
        if rows.size > k:
            part = np.argpartition(-sims, k - 1)[:k]
            rows, sims = rows[part], sims[part]
        return rows, sims

    def _tier(self, q: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        count = int(np.count_nonzero(mask))
        if count == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if count <= self.exact_max or self._ann is None:
            return self._exact(q, np.flatnonzero(mask), k)
        return self._ann_search(q, mask, count, k)

    def search(
        self, query: np.ndarray, pos: Sequence[int], neg: Sequence[int], k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k (rows int64, states int8, similarities float32) in lexicographic order."""
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(-1))
        if q.shape[0] != self.dim:
            raise ValueError(f"query must have {self.dim} dimensions, got {q.shape[0]}")
        if k <= 0 or len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.float32)
        masks = self.tier_masks(pos, neg)
        out_r, out_s, out_v = [], [], []
        need = k
        for value, mask in zip((1, 0, -1), masks, strict=True):
            rows, sims = self._tier(q, mask, need)
            if rows.size:
                order = np.lexsort((rows, -sims))
                out_r.append(rows[order])
                out_v.append(sims[order].astype(np.float32))
                out_s.append(np.full(rows.size, value, dtype=np.int8))
                need -= rows.size
            if need <= 0:
                break
        if not out_r:
            return np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.float32)
        return (
            np.concatenate(out_r).astype(np.int64)[:k],
            np.concatenate(out_s)[:k],
            np.concatenate(out_v)[:k],
        )

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        """Write the index to ``directory`` (np.save arrays, faiss graph if built) so a CLI need not rebuild."""
        final = Path(directory)
        final.parent.mkdir(parents=True, exist_ok=True)
        d = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        for kind in ("has", "not"):
            ptr, ids = self._row_csr(kind)
            np.save(d / f"{kind}_ptr.npy", ptr)
            np.save(d / f"{kind}_ids.npy", ids)
        vecs = self._vecs[: self._n]
        assert vecs.dtype == np.float32
        np.save(d / "vectors.npy", vecs)
        np.save(d / "alive.npy", self._alive[: self._n])
        meta = {
            "format": _FORMAT,
            "dim": self.dim,
            "n": self._n,
            "exact_max": self.exact_max,
            "ann_min_rows": self.ann_min_rows,
            "hnsw_m": self.hnsw_m,
            "hnsw_ef_construction": self.hnsw_ef_construction,
            "hnsw_ef_search": self.hnsw_ef_search,
            "ef_max": self.ef_max,
            "ann_rows": self._ann_rows if self._ann is not None else 0,
            "ann_dead": self._ann_dead,
        }
        if self._ann is not None:
            faiss = require("faiss", "store", "faiss-cpu")
            faiss.write_index(self._ann, str(d / "hnsw.faiss"))
        (d / "meta.json").write_text(json.dumps(meta))
        # Swap the complete new directory in: a crash leaves the old index or the new one, never a mix.
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        if final.exists():
            final.rename(old)
        d.rename(final)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: str | Path) -> PolarIndex:
        d = Path(directory)
        try:
            meta = json.loads((d / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read polar index in {d}: {exc}") from exc
        if meta.get("format") != _FORMAT:
            raise StoreError(f"polar index in {d} has format {meta.get('format')}, expected {_FORMAT}")
        idx = cls(
            meta["dim"],
            exact_max=meta["exact_max"],
            ann_min_rows=meta["ann_min_rows"],
            hnsw_m=meta["hnsw_m"],
            hnsw_ef_construction=meta["hnsw_ef_construction"],
            hnsw_ef_search=meta["hnsw_ef_search"],
            ef_max=meta["ef_max"],
        )
        n = int(meta["n"])
        vecs = np.load(d / "vectors.npy")
        alive = np.load(d / "alive.npy")
        if vecs.shape != (n, idx.dim) or vecs.dtype != np.float32 or alive.shape != (n,):
            raise StoreError(f"polar index in {d} is inconsistent (vectors {vecs.shape}, {vecs.dtype})")
        idx._vecs, idx._alive, idx._n = np.ascontiguousarray(vecs), alive.astype(bool), n
        idx._dead = np.flatnonzero(~idx._alive).astype(np.int64)
        for kind in ("has", "not"):
            idx._rows[kind] = (np.load(d / f"{kind}_ptr.npy"), np.load(d / f"{kind}_ids.npy"))
        ann_path = d / "hnsw.faiss"
        if meta.get("ann_rows") and ann_path.exists():
            faiss = require("faiss", "store", "faiss-cpu")
            idx._ann = faiss.read_index(str(ann_path))
            idx._ann_rows = int(meta["ann_rows"])
            idx._ann_dead = int(meta.get("ann_dead", 0))
            if idx._ann_rows < n:
                idx._ann_add(idx._ann_rows, n)
        return idx


def brute_force(
    vectors: np.ndarray, states: np.ndarray, query: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact reference: full matmul, then lexsort by (state desc, similarity desc, row asc)."""
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    sims = vectors @ q
    rows = np.flatnonzero(states > -2)
    order = np.lexsort((rows, -sims[rows], -states[rows].astype(np.int64)))[:k]
    sel = rows[order]
    return sel, states[sel].astype(np.int8), sims[sel].astype(np.float32)
