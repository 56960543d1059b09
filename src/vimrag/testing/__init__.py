"""Test oracles and synthetic workloads for the index and the stores (tests and benchmarks import them).

Not used by the product: they are references to check it against — the paper's item-by-item logic
(:func:`logic_states`), brute-force top-k (:func:`brute_force`) and a synthetic 200k-item workload
(:mod:`vimrag.testing.synthetic`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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


def brute_force_fused(
    vectors: np.ndarray, states: np.ndarray, query: np.ndarray, lexical: np.ndarray, weight: float, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact reference of the hybrid order: every row's fused score (1 − λ)·cos + λ·bm25/max over the
    live rows, then lexsort by (state desc, fused desc, cos desc, row asc). ``lexical`` is per row (0 where
    no query term occurs); rows with state −2 are dead."""
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    sims = (vectors @ q).astype(np.float64)
    rows = np.flatnonzero(states > -2)
    lex = np.asarray(lexical, dtype=np.float64)
    top = float(lex[rows].max()) if rows.size else 0.0
    fused = (1.0 - weight) * sims + weight * (lex / top if top > 0 else 0.0)
    order = np.lexsort((rows, -sims[rows], -fused[rows], -states[rows].astype(np.int64)))[:k]
    sel = rows[order]
    return sel, states[sel].astype(np.int8), fused[sel]


__all__ = ["brute_force", "brute_force_fused", "logic_states"]
