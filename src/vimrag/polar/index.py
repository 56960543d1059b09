"""In-process exact index for PolarMem's lexicographic logic-aware retrieval (Algorithm 1).

Rows are identified by dense int64 row numbers, stable for the life of the index (removed rows become
tombstones; they are never reused). Concepts are int32 ids. The logic state of a row for a query
(Q+, Q−) is: CONFLICT if Q+ ∩ NOT_HAS ≠ ∅ or Q− ∩ HAS ≠ ∅; else VERIFIED if Q+ ∩ HAS ≠ ∅; else UNCERTAIN.
Results are ordered by (state desc, similarity desc), ties broken by row id ascending.

How it is fast (the paper evaluates the logic item by item, ≈1 s per query at 200k items):

1. **Posting lists.** HAS and NOT_HAS are CSR posting lists per concept. The tier of every row is set
   by scattering the query's posting lists into an int8 state vector (set algebra, O(Σ|postings|)).
2. **Plan per tier, best tier first.** A tier is scored only if the tiers above it hold fewer than k
   rows. A tier with at most ``exact_max`` rows is scored exactly (one inner product per row id).
3. **Large tiers: ANN proposes, a bound certifies.** A larger tier first asks an HNSW graph (faiss,
   m=32, efConstruction=128; built by ``add`` once the index holds ``ann_min_rows`` rows, never by a
   query) restricted to the tier by an ``IDSelectorBitmap``. Those candidates are scored exactly and
   give τ, the k-th best similarity among them, a lower bound on the tier's true k-th best. The graph is
   then only a *candidate generator*; exactness comes from a certificate. At build time we fit an
   orthonormal projection P (d×r, the top-r right singular vectors of a sample of rows, r =
   ``bound_dims``) and store for every row its coordinates y = Pᵀx and the norm of its residual
   e = x − P·y (computed in float64, so x = P·y + e holds for the stored y). For any query q,

       x·q = y·(Pᵀq) + e·q_⊥ + (Pᵀe)·(Pᵀq) ≤ y·(Pᵀq) + ‖e‖·‖q_⊥‖ + η·‖Pᵀq‖,   q_⊥ = q − PPᵀq,

   by Cauchy–Schwarz, with η = max over rows of ‖Pᵀe‖ (≈1e-7: P is orthonormal up to rounding), plus a
   margin for float32 rounding of the r-dim product. One r-dim GEMV over the tier gives this bound for
   every row; every row whose bound reaches τ is scored exactly and the top-k is taken over the exactly
   scored rows. **Guarantee:** every row of the true top-k has similarity ≥ its k-th best ≥ τ, hence a
   bound ≥ τ, hence is scored exactly; so the result equals brute force (ties broken by row id) whatever
   the graph returned and however loose the bound is. A loose bound (isotropic data, r too small) only
   costs time: more rows are scored, at worst the whole tier. If the graph returns fewer than k rows,
   the tier is scored exactly. Measured on the 200k synthetic workload (384-d, clustered): r = 128 keeps
   ≈0.5% of a tier, r = 96 ≈4%, r = 64 ≈44%, r ≤ 48 nearly all of it (the residual of such an
   embedding outside a few dozen directions is too large to bound), so the default is r = 128. The
   r-dim GEMV over a dense tier is the main cost (float32: ≈7 ms at 200k rows); when torch with fbgemm
   is installed it runs on int8 copies of y (per-row scales, ≈1.5 ms) and its quantization error is
   added to the bound (``_dense_bound``), so the certificate stays rigorous.
4. **Incremental.** New rows go to a delta segment scanned with ``np.isin`` until it is worth merging
   into the posting lists; they are added to the HNSW graph and projected with the current P
   immediately (P is refitted only by ``build_ann``). Removal sets a tombstone (the tier bitmaps exclude
   it); ``needs_rebuild`` says when tombstones exceed a quarter of the graph, and ``build_ann()`` rebuilds
   graph and projection (the store's ``optimize``). Without faiss everything is scored exactly.
5. **Storage.** ``save`` writes the vectors once: the HNSW graph is written without its flat storage
   (faiss ``IO_FLAG_SKIP_STORAGE``) and ``load`` refills the storage from ``vectors.npy``.

Deviation from the paper: PolarMem ranks by a Cypher query over Neo4j plus Milvus similarity; we keep
its order (Algorithm 1) but evaluate it with the plan above.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vimrag._extras import require
from vimrag.errors import StoreError

_FORMAT = 2  # 2: projection P, row coordinates and residual norms; graph without its flat storage
_READABLE = (1, 2)
_BOUND_MARGIN = 1e-4  # absorbs float32 rounding in the r-dim product and in the exact scores
_Q_BLOCK = 32768  # rows per int8 block of projected coordinates
_Q_AUTO = 4  # dense bound passes before the int8 blocks are built (a one-shot CLI query never pays for them)


def logic_states(
    has: Sequence[np.ndarray], not_has: Sequence[np.ndarray], pos: Sequence[int], neg: Sequence[int],
    strict: bool = False,
) -> np.ndarray:
    """Per-row logic state (−1/0/+1) by direct evaluation, item by item, as the paper's loop does.

    ``strict``: strict negation (:mod:`vimrag.polar.logic`), VERIFIED also needs Q− ⊆ NOT_HAS.
    """
    pos_s, neg_s = {int(c) for c in pos}, {int(c) for c in neg}
    out = np.zeros(len(has), dtype=np.int8)
    for i, (h, n) in enumerate(zip(has, not_has, strict=True)):
        hs, ns = set(h.tolist()), set(n.tolist())
        if pos_s & ns or neg_s & hs:
            out[i] = -1
        elif pos_s & hs and (not strict or neg_s <= ns):
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
        bound_dims: int = 128,
        bound_sample: int = 65536,
    ) -> None:
        self.dim = int(dim)
        self.exact_max = int(exact_max)
        self.ann_min_rows = int(ann_min_rows)
        self.hnsw_m = int(hnsw_m)
        self.hnsw_ef_construction = int(hnsw_ef_construction)
        self.hnsw_ef_search = int(hnsw_ef_search)
        self.ef_max = int(ef_max)
        self.bound_dims = max(0, min(int(bound_dims), self.dim))
        self.bound_sample = int(bound_sample)
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
        # Certificate for large tiers (module docstring, point 3): P (d×r), y = Pᵀx per row, ‖x − Py‖.
        self._proj_p: np.ndarray | None = None
        self._proj_p64: np.ndarray | None = None
        self._proj = np.zeros((0, self.bound_dims), dtype=np.float32)
        self._res = np.zeros(0, dtype=np.float32)
        self._eta = 0.0
        self._qblocks: list[tuple[int, int, Any]] = []  # (first row, end row, fbgemm packed int8 weights)
        self._qmax = (0.0, 0.0)  # max over blocked rows of (‖ỹ‖₁, int8 scale)
        self._dense_passes = 0
        self._torch: Any = False
        self.last_stats: dict[str, int] = {}  # what the last search scored (for benchmarks and tests)

    @classmethod
    def from_config(cls, dim: int, config: Any) -> PolarIndex:
        """Build from a :class:`vimrag.config.PolarConfig` (``index_exact_max``, ``hnsw_*``)."""
        return cls(
            dim,
            exact_max=config.index_exact_max,
            hnsw_m=config.hnsw_m,
            hnsw_ef_construction=config.index_hnsw_ef_construction,
            hnsw_ef_search=config.hnsw_ef_search,
            bound_dims=config.index_bound_dims,
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
        if self._proj_p is not None:
            proj = np.empty((new_cap, self.bound_dims), dtype=np.float32)
            proj[: self._n] = self._proj[: self._n]
            res = np.empty(new_cap, dtype=np.float32)
            res[: self._n] = self._res[: self._n]
            self._proj, self._res = proj, res

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
        if self._proj_p is not None:
            self._project(start, self._n)
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

    def tier_masks(
        self, pos: Sequence[int], neg: Sequence[int], strict: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boolean masks of the VERIFIED, UNCERTAIN and CONFLICT tiers over alive rows (set algebra).

        ``strict`` (strict negation): VERIFIED also intersects the NOT_HAS posting list of every Q− concept.
        """
        self._postings()
        p, n = _as_ids(pos), _as_ids(neg)
        ver = np.zeros(self._n, dtype=bool)
        con = np.zeros(self._n, dtype=bool)
        self._mark("has", p, ver)
        self._mark("not", p, con)
        self._mark("has", n, con)
        if strict and p.size:
            for c in n:
                absent = np.zeros(self._n, dtype=bool)
                self._mark("not", n[n == c], absent)
                ver &= absent
        alive = self._alive[: self._n]
        conflict = con & alive
        free = alive & ~con
        return ver & free, free & ~ver, conflict

    def states(self, pos: Sequence[int], neg: Sequence[int], strict: bool = False) -> np.ndarray:
        """Logic state of every row (int8: 1, 0, −1; −2 for removed rows)."""
        v, u, c = self.tier_masks(pos, neg, strict)
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

    # ------------------------------------------------------------------ certificate (projection bound)
    def fit_projection(self) -> None:
        """Fit P (top ``bound_dims`` right singular vectors of a row sample) and project every row.

        Uncentred on purpose: the bound is on x·q, so P should capture the second moment E[xxᵀ], which
        minimises the expected residual norm ‖x − PPᵀx‖. Any P keeps the certificate valid; a good P
        only makes it tighter.
        """
        r = self.bound_dims
        rows = np.flatnonzero(self._alive[: self._n])
        if r == 0 or rows.size == 0:
            self._proj_p = None
            return
        if rows.size > self.bound_sample:
            rows = np.sort(np.random.default_rng(0).choice(rows, self.bound_sample, replace=False))
        sample = self._vecs[rows].astype(np.float64)
        _, vecs = np.linalg.eigh(sample.T @ sample)
        self._proj_p = np.ascontiguousarray(vecs[:, ::-1][:, :r], dtype=np.float32)
        self._proj_p64 = None
        cap = self._vecs.shape[0]
        self._proj = np.empty((cap, r), dtype=np.float32)
        self._res = np.empty(cap, dtype=np.float32)
        self._eta = 0.0
        self._qblocks, self._qmax = [], (0.0, 0.0)
        self._project(0, self._n)

    def _project(self, a: int, b: int) -> None:
        """y = Pᵀx (float32, stored), residual e = x − P·y in float64 so that x = P·y + e exactly-ish."""
        p = self._proj_p
        assert p is not None
        p64 = p.astype(np.float64)
        for lo in range(a, b, 32768):
            hi = min(b, lo + 32768)
            x = self._vecs[lo:hi]
            y = x @ p
            e = x.astype(np.float64) - y.astype(np.float64) @ p64.T
            self._proj[lo:hi] = y
            self._res[lo:hi] = np.nextafter(np.linalg.norm(e, axis=1).astype(np.float32), np.float32(np.inf))
            if hi > lo:
                self._eta = max(self._eta, float(np.linalg.norm(e @ p64, axis=1).max()))

    def _torch_mod(self) -> Any:
        if self._torch is False:
            try:
                import torch

                torch.ops.quantized.linear_dynamic  # noqa: B018  (fbgemm present in this build)
                self._torch = torch
            except (ImportError, AttributeError, RuntimeError):
                self._torch = None
        return self._torch

    def prepare(self) -> bool:
        """Build the int8 blocks for the bound pass now (else after a few dense passes); True if available.

        The blocks are an optional speed-up of the r-dim GEMV (fbgemm's int8 kernel through torch, ≈4×
        fewer bytes than float32); they are rebuilt from the float coordinates, never persisted.
        """
        torch = self._torch_mod()
        if torch is None or self._proj_p is None:
            return False
        end = self._qblocks[-1][1] if self._qblocks else 0
        l1max, smax = self._qmax
        while self._n - end >= min(_Q_BLOCK, 4096) or (end < self._n and not self._qblocks):
            b = min(self._n, end + _Q_BLOCK)
            y = self._proj[end:b]
            scale = np.abs(y).max(axis=1).astype(np.float64) / 127.0
            scale[scale == 0] = 1.0
            codes = np.clip(np.rint(y / scale[:, None]), -127, 127).astype(np.int8)
            l1max = max(l1max, float((np.abs(codes).sum(axis=1) * scale).max()))
            smax = max(smax, float(scale.max()))
            with warnings.catch_warnings():  # torch.ao quantization deprecation notices; the ops remain
                warnings.simplefilter("ignore")
                w = torch._make_per_channel_quantized_tensor(
                    torch.from_numpy(codes),
                    torch.from_numpy(scale),
                    torch.zeros(b - end, dtype=torch.int64),
                    0,
                )
                packed = torch.ops.quantized.linear_prepack(w, None)
            self._qblocks.append((end, b, packed))
            end = b
        self._qmax = (l1max, smax)
        return True

    def _dense_bound(self, qh: np.ndarray) -> tuple[np.ndarray, float]:
        """y·qh for every row, and a bound on how far below the exact value it may be.

        int8 path: ỹ = s·round(y/s) per row (|y − ỹ| ≤ s/2 elementwise) and fbgemm quantizes qh to 8 bits
        (|qh − q̃| ≤ δ = range(qh)/255 elementwise; we allow twice that). Then
        |y·qh − ỹ·q̃| ≤ ‖ỹ‖₁·δ + (s/2)·‖qh‖₁, bounded with the maxima over rows.
        """
        n = self._n
        self._dense_passes += 1
        if self._dense_passes >= _Q_AUTO and self._qblocks == [] and self._torch_mod() is not None:
            self.prepare()
        if not self._qblocks:
            return self._proj[:n] @ qh, 0.0
        torch = self._torch
        if self._qblocks[-1][1] < n - 4096:
            self.prepare()
        out = np.empty(n, dtype=np.float32)
        x = torch.from_numpy(qh.reshape(1, -1))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one query: a second thread only adds contention on a shared machine
        try:
            for a, b, packed in self._qblocks:
                out[a:b] = torch.ops.quantized.linear_dynamic(x, packed, False).numpy()[0]
        finally:
            torch.set_num_threads(threads)
        end = self._qblocks[-1][1]
        if end < n:
            out[end:n] = self._proj[end:n] @ qh
        delta = 2.0 * (max(float(qh.max()), 0.0) - min(float(qh.min()), 0.0)) / 255.0
        l1max, smax = self._qmax
        return out, delta * l1max + 0.5 * smax * float(np.abs(qh).sum())

    def build_ann(self) -> None:
        """Build the HNSW graph over the alive rows now and refit the projection bound."""
        faiss = require("faiss", "store", "faiss-cpu")
        self.fit_projection()
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

    def _ann_search(
        self, q: np.ndarray, mask: np.ndarray, count: int, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
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
    @staticmethod
    def _topk(rows: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best by (similarity desc, row asc), ties at the k-th similarity included correctly."""
        if rows.size > k:
            kth = np.partition(sims, rows.size - k)[rows.size - k]
            keep = sims >= kth
            rows, sims = rows[keep], sims[keep]
        order = np.lexsort((rows, -sims))[:k]
        return rows[order], sims[order]

    def _scores(self, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self._dot_by_idx(self._vecs, q, rows)

    def _dot_by_idx(self, mat: np.ndarray, q: np.ndarray, rows: np.ndarray) -> np.ndarray:
        faiss = self._faiss_mod()
        if faiss is None or rows.size == 0:
            return np.take(mat, rows, axis=0) @ q
        # Inner products straight from the row ids: no gathered copy, no BLAS thread pool (whose
        # wake-up costs more than a 16k×384 product on a busy machine).
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        out = np.empty(rows.size, dtype=np.float32)
        faiss.fvec_inner_products_by_idx(
            faiss.swig_ptr(out),
            faiss.swig_ptr(q),
            faiss.swig_ptr(mat),
            faiss.swig_ptr(rows),
            mat.shape[1],
            1,
            rows.size,
        )
        return out

    def _certified(
        self, q: np.ndarray, mask: np.ndarray, count: int, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Large tier: HNSW candidates give τ, the projection bound finds every row that could beat it."""
        cand, _ = self._ann_search(q, mask, count, k)
        cand = np.unique(cand[(cand >= 0) & (cand < self._n)])
        cand = cand[mask[cand]]
        if cand.size < k or self._proj_p is None:
            rows = np.flatnonzero(mask)
            self.last_stats = {"tier": count, "candidates": int(cand.size), "scored": int(rows.size)}
            return self._topk(rows, self._scores(q, rows), k)
        c_sims = self._scores(q, cand)
        tau = float(np.partition(c_sims, c_sims.size - k)[c_sims.size - k])
        qh = q @ self._proj_p
        if self._proj_p64 is None or self._proj_p64.shape != self._proj_p.shape:
            self._proj_p64 = self._proj_p.astype(np.float64)
        q_perp = float(np.linalg.norm(q.astype(np.float64) - self._proj_p64 @ qh))
        # bound(x) = y·qh + ‖e‖·‖q⊥‖ + η·‖qh‖ + margin ≥ τ  ⇔  y·qh + ‖e‖·‖q⊥‖ ≥ τ − η‖qh‖ − margin
        thr = np.float32(tau - self._eta * float(np.linalg.norm(qh)) - _BOUND_MARGIN)
        n = self._n
        if count * 4 >= n:  # dense tier: one GEMV over all rows beats gathering by id
            b, err = self._dense_bound(qh)
            thr = np.float32(thr - err)
            tmp = np.multiply(self._res[:n], np.float32(q_perp))
            b += tmp
            hit = np.flatnonzero(b >= thr)
            hit = hit[mask[hit]]  # few rows pass the bound: filter those, not the whole mask
        else:
            rows = np.flatnonzero(mask)
            b = self._dot_by_idx(self._proj, qh, rows)
            b += self._res[rows] * np.float32(q_perp)
            hit = rows[b >= thr]
        new = np.setdiff1d(hit, cand, assume_unique=True)
        rows = np.concatenate([cand, new])
        sims = np.concatenate([c_sims, self._scores(q, new)])
        self.last_stats = {"tier": count, "candidates": int(cand.size), "scored": int(rows.size)}
        return self._topk(rows, sims, k)

    def _exact(self, q: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = self._scores(q, rows)
        self.last_stats = {"tier": int(rows.size), "candidates": 0, "scored": int(rows.size)}
        return self._topk(rows, sims, k)

    def _tier(self, q: np.ndarray, mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        count = int(np.count_nonzero(mask))
        if count == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if count <= self.exact_max or self._ann is None:
            return self._exact(q, np.flatnonzero(mask), k)
        return self._certified(q, mask, count, k)

    def search(
        self, query: np.ndarray, pos: Sequence[int], neg: Sequence[int], k: int, strict: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k (rows int64, states int8, similarities float32) in lexicographic order.

        ``strict``: strict negation (VERIFIED needs every Q− concept verified NOT_HAS).

        Exact: equal to :func:`brute_force` (state desc, similarity desc, row asc) for every query; large
        tiers are certified by the projection bound (module docstring, point 3), not trusted to the graph.
        """
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(-1))
        if q.shape[0] != self.dim:
            raise ValueError(f"query must have {self.dim} dimensions, got {q.shape[0]}")
        if k <= 0 or len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.float32)
        masks = self.tier_masks(pos, neg, strict)
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
            "bound_dims": self.bound_dims,
            "bound_sample": self.bound_sample,
            "eta": self._eta,
            "projection": self._proj_p is not None,
        }
        if self._proj_p is not None:
            np.save(d / "proj_p.npy", self._proj_p)
            np.save(d / "proj_y.npy", self._proj[: self._n])
            np.save(d / "proj_res.npy", self._res[: self._n])
        if self._ann is not None:
            faiss = require("faiss", "store", "faiss-cpu")
            # The graph only (links, levels): its flat storage would duplicate vectors.npy, so load refills
            # it. The id map is saved beside it (IndexIDMap's writer does not pass the skip flag down).
            faiss.write_index(
                faiss.downcast_index(self._ann.index), str(d / "hnsw.faiss"), faiss.IO_FLAG_SKIP_STORAGE
            )
            np.save(d / "hnsw_ids.npy", faiss.vector_to_array(self._ann.id_map).astype(np.int64))
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
        if meta.get("format") not in _READABLE:
            raise StoreError(f"polar index in {d} has format {meta.get('format')}, expected {_FORMAT}")
        idx = cls(
            meta["dim"],
            exact_max=meta["exact_max"],
            ann_min_rows=meta["ann_min_rows"],
            hnsw_m=meta["hnsw_m"],
            hnsw_ef_construction=meta["hnsw_ef_construction"],
            hnsw_ef_search=meta["hnsw_ef_search"],
            ef_max=meta["ef_max"],
            bound_dims=meta.get("bound_dims", 128),
            bound_sample=meta.get("bound_sample", 65536),
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
        if meta.get("projection"):
            p = np.load(d / "proj_p.npy")
            y = np.load(d / "proj_y.npy")
            res = np.load(d / "proj_res.npy")
            r = idx.bound_dims
            if p.shape != (idx.dim, r) or y.shape != (n, r) or res.shape != (n,) or y.dtype != np.float32:
                raise StoreError(f"polar index in {d} has an inconsistent projection ({p.shape}, {y.shape})")
            idx._proj_p, idx._proj, idx._res = (
                p.astype(np.float32),
                np.ascontiguousarray(y),
                res.astype(np.float32),
            )
            idx._eta = float(meta.get("eta", 0.0))
        ann_path = d / "hnsw.faiss"
        if meta.get("ann_rows") and ann_path.exists():
            faiss = require("faiss", "store", "faiss-cpu")
            if meta["format"] == 1:
                ann = faiss.read_index(str(ann_path))
            else:  # graph written without storage: refill it from the vectors, rewrap it in its id map
                inner = faiss.read_index(str(ann_path))
                ids = np.load(d / "hnsw_ids.npy")
                if ids.size != inner.ntotal or (ids.size and (ids.min() < 0 or ids.max() >= n)):
                    raise StoreError(f"polar index in {d}: HNSW ids do not match the {n} rows")
                flat = faiss.IndexFlatIP(idx.dim)
                for a in range(0, ids.size, 65536):
                    flat.add(idx._vecs[ids[a : a + 65536]])
                flat.this.disown()
                inner.storage = flat
                inner.own_fields = True
                ann = faiss.IndexIDMap(faiss.IndexHNSWFlat(idx.dim, idx.hnsw_m, faiss.METRIC_INNER_PRODUCT))
                inner.this.disown()
                ann.index = inner
                ann.own_fields = True
                faiss.copy_array_to_vector(ids, ann.id_map)
                ann.ntotal = inner.ntotal
            idx._ann = ann
            if idx._proj_p is None:  # format 1: no projection saved yet
                idx.fit_projection()
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
