"""Hybrid similarity inside PolarMem's lexicographic order, exact (issue 22).

Within each logic tier (VERIFIED, then UNCERTAIN, then CONFLICT — Algorithm 1's order is untouched) rows are
ranked by the fused score

    s(x) = (1 − λ) · cos(q, x) + λ · bm25(x) / max_y bm25(y)

where the BM25 maximum runs over every live row that holds a query term (so the lexical part is in [0, 1]
for every query) and λ is the lexical weight (0 = the paper's dense similarity). Ties break by dense
similarity, then by row id.

**Why the top-k is exact without scoring every row.** Let D be the exact dense top-k of the tier (the plan of
:class:`~vimrag.index.core.PolarIndex`) and L the tier's rows holding a query term. A row outside D ∪ L has
bm25 = 0, so its fused score is (1 − λ)·cos, below that of each of the k rows of D (their lexical parts are
≥ 0 and their cosines are at least its own). Hence the fused top-k lies in D ∪ L. L can be large (a common
word), so it is pruned first: with τ the k-th best fused score over D and c* the tier's best cosine (the
first row of D), a row of L can reach τ only if λ·bm25/max ≥ τ − (1 − λ)·c*; only those rows are scored
densely. Both steps are bounds, not heuristics: the result equals brute force over the whole tier
(``tests/index/test_fusion.py`` checks it against :func:`vimrag.testing.brute_force_fused`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from vimrag.index.core import PolarIndex

_EPS = 1e-6  # float32 cosines vs float64 fused arithmetic: prune a hair less than the bound allows


_F = TypeVar("_F", float, np.ndarray)


def fuse(dense: _F, lexical: _F, weight: float) -> _F:
    """The fused score of one row: ``(1 − λ)·cos + λ·bm25/max`` (``lexical`` already divided by the max).
    The one formula of both stores (the vectorised form below computes the same)."""
    return (1.0 - weight) * dense + weight * lexical


def _lookup(rows: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` of ``keys`` (sorted) at ``rows``; 0 where a row is not a key."""
    if keys.size == 0:
        return np.zeros(rows.size, dtype=np.float64)
    at = np.minimum(np.searchsorted(keys, rows), keys.size - 1)
    return np.where(keys[at] == rows, values[at], 0.0)


def _fused_tier(index: PolarIndex, q: np.ndarray, mask: np.ndarray, k: int, lrows: np.ndarray,
                lnorm: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact top-k of one tier by (fused desc, cosine desc, row asc): rows, fused, cosine."""
    drows, dsims = index._tier(q, mask, k)
    if drows.size == 0:
        return drows, np.zeros(0), np.zeros(0, np.float32)
    dense = dsims.astype(np.float64)
    fused = fuse(dense, _lookup(drows, lrows, lnorm), lam)
    in_tier = mask[lrows] if lrows.size else np.zeros(0, dtype=bool)
    lr, ln = lrows[in_tier], lnorm[in_tier]
    if lr.size and lam > 0.0:
        if drows.size >= k:  # D is full: only rows whose lexical part can lift them to τ
            tau = float(np.partition(fused, fused.size - k)[fused.size - k])
            need = (tau - (1.0 - lam) * float(dense.max())) / lam - _EPS
            keep = ln >= need
            lr, ln = lr[keep], ln[keep]
        new = np.setdiff1d(lr, drows, assume_unique=True)
        if new.size:
            nd = index._scores(q, new).astype(np.float64)
            drows = np.concatenate([drows, new])
            dense = np.concatenate([dense, nd])
            fused = np.concatenate([fused, fuse(nd, _lookup(new, lr, ln), lam)])
    order = np.lexsort((drows, -dense, -fused))[:k]
    return drows[order], fused[order], dense[order].astype(np.float32)


def search_fused(index: PolarIndex, query: np.ndarray, pos: Sequence[int], neg: Sequence[int], k: int,
                 lex_rows: np.ndarray, lex_scores: np.ndarray, weight: float, strict: bool = False,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top-k in lexicographic order with the fused similarity: rows, states, fused, cosine, raw BM25.

    ``lex_rows`` (ascending) and ``lex_scores`` are :meth:`~vimrag.index.lexical.LexicalIndex.search`'s
    output over the same row numbering; ``weight`` is λ."""
    lam = min(max(float(weight), 0.0), 1.0)
    q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(-1))
    if q.shape[0] != index.dim:
        raise ValueError(f"query must have {index.dim} dimensions, got {q.shape[0]}")
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0), np.zeros(0, np.float32), np.zeros(0))
    if k <= 0 or len(index) == 0:
        return empty
    lrows = np.asarray(lex_rows, dtype=np.int64)
    lraw = np.asarray(lex_scores, dtype=np.float64)
    alive = lrows < index.n_rows
    lrows, lraw = lrows[alive], lraw[alive]
    alive = index._alive[lrows]
    lrows, lraw = lrows[alive], lraw[alive]
    top = float(lraw.max()) if lraw.size else 0.0
    lnorm = lraw / top if top > 0 else np.zeros_like(lraw)
    out: list[tuple[np.ndarray, ...]] = []
    need = k
    for value, mask in zip((1, 0, -1), index.tier_masks(pos, neg, strict), strict=True):
        rows, fused, dense = _fused_tier(index, q, mask, need, lrows, lnorm, lam)
        if rows.size:
            out.append((rows, np.full(rows.size, value, np.int8), fused, dense, _lookup(rows, lrows, lraw)))
            need -= rows.size
        if need <= 0:
            break
    if not out:
        return empty
    cols = [np.concatenate([o[i] for o in out])[:k] for i in range(5)]
    return cols[0].astype(np.int64), cols[1], cols[2], cols[3], cols[4]
