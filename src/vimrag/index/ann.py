"""The HNSW graph (faiss) that proposes candidates for a large tier, and faiss's by-id inner products.

The graph is only a candidate generator: exactness comes from the projection bound
(:mod:`vimrag.index.bound`). Without faiss every tier is scored exactly.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from vimrag._extras import require


class AnnMixin:
    """HNSW side of :class:`~vimrag.index.core.PolarIndex` (built by ``build_ann``, never by a query)."""

    dim: int
    hnsw_m: int
    hnsw_ef_construction: int
    hnsw_ef_search: int
    ef_max: int
    _n: int
    _vecs: np.ndarray
    _alive: np.ndarray
    _ann: Any  # a property on PolarIndex (the graph is built lazily after a load)
    _ann_rows: int
    _ann_dead: int
    _faiss: Any

    def _faiss_mod(self) -> Any:
        if self._faiss is False:
            try:
                import faiss

                self._faiss = faiss
            except ImportError:
                self._faiss = None
        return self._faiss

    def _build_graph(self) -> None:
        """A new HNSW graph over the alive rows."""
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
