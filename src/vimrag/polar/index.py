"""In-process exact index for PolarMem's lexicographic logic-aware retrieval (Algorithm 1).

Rows are identified by dense int64 row numbers. Concepts are int32 ids. The logic state of a row for a
query (Q+, Q−) is: CONFLICT if Q+ ∩ NOT_HAS ≠ ∅ or Q− ∩ HAS ≠ ∅; else VERIFIED if Q+ ∩ HAS ≠ ∅; else
UNCERTAIN. Results are ordered by (state desc, similarity desc), ties broken by row id ascending.

This module currently holds the brute-force reference implementation; the fast planner
(posting lists, exact scoring of small tiers, filtered ANN for large ones) keeps this interface.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def logic_states(
    has: Sequence[np.ndarray], not_has: Sequence[np.ndarray], pos: Sequence[int], neg: Sequence[int]
) -> np.ndarray:
    """Per-row logic state (−1/0/+1) by direct evaluation: the reference for everything faster."""
    pos_s, neg_s = set(int(c) for c in pos), set(int(c) for c in neg)
    out = np.zeros(len(has), dtype=np.int8)
    for i, (h, n) in enumerate(zip(has, not_has, strict=True)):
        hs = set(h.tolist())
        if pos_s & set(n.tolist()) or neg_s & hs:
            out[i] = -1
        elif pos_s & hs:
            out[i] = 1
    return out


class PolarIndex:
    """Reference implementation: exact, O(n·d) per query."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vecs = np.zeros((0, dim), dtype=np.float32)
        self._has: list[np.ndarray] = []
        self._not_has: list[np.ndarray] = []
        self._alive = np.zeros(0, dtype=bool)

    def __len__(self) -> int:
        return int(self._alive.sum())

    def add(self, vectors: np.ndarray, has: Sequence[np.ndarray], not_has: Sequence[np.ndarray]) -> np.ndarray:
        """Append rows; returns their row ids."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        assert vectors.ndim == 2 and vectors.shape[1] == self.dim
        start = self._vecs.shape[0]
        self._vecs = np.vstack([self._vecs, vectors])
        self._has.extend(np.asarray(h, dtype=np.int32) for h in has)
        self._not_has.extend(np.asarray(n, dtype=np.int32) for n in not_has)
        self._alive = np.concatenate([self._alive, np.ones(len(vectors), dtype=bool)])
        return np.arange(start, start + len(vectors), dtype=np.int64)

    def remove(self, rows: Sequence[int]) -> None:
        self._alive[np.asarray(rows, dtype=np.int64)] = False

    def search(
        self, query: np.ndarray, pos: Sequence[int], neg: Sequence[int], k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k (rows, states, similarities) in lexicographic order."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        sims = self._vecs @ q
        states = logic_states(self._has, self._not_has, pos, neg).astype(np.int64)
        rows = np.nonzero(self._alive)[0]
        order = np.lexsort((rows, -sims[rows], -states[rows]))[:k]
        sel = rows[order]
        return sel, states[sel].astype(np.int8), sims[sel].astype(np.float32)
