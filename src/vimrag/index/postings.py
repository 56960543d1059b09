"""Concept posting lists of the index: which rows HAS / NOT_HAS each concept, and the logic tiers they give.

The tier of every row for a query (Q+, Q−) is set algebra over posting lists (O(Σ|postings|)): VERIFIED
= has some Q+ and no conflict, CONFLICT = Q+ ∩ NOT_HAS ≠ ∅ or Q− ∩ HAS ≠ ∅, UNCERTAIN = the rest (module
docstring of :mod:`vimrag.index.core`, point 1). New rows sit in a delta segment scanned with ``np.isin``
until merging them into the lists pays off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def as_ids(values: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(values, dtype=np.int64).reshape(-1)).astype(np.int32)


def csr(lists: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
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


class Postings:
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


class PostingsMixin:
    """The concept side of :class:`~vimrag.index.core.PolarIndex`: per-row CSR, posting lists, tiers."""

    _n: int
    _alive: np.ndarray
    _rows: dict[str, tuple[np.ndarray, np.ndarray]]
    _pending: dict[str, list[Sequence[Any]]]
    _post: dict[str, Postings] | None
    _built: int

    def _row_csr(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        pend = self._pending[kind]
        if pend:
            ptr, ids = self._rows[kind]
            lists = [x for chunk in pend for x in chunk]
            p2, i2 = csr(lists)
            self._rows[kind] = (np.concatenate([ptr, ptr[-1] + p2[1:]]), np.concatenate([ids, i2]))
            pend.clear()
        return self._rows[kind]

    def _postings(self) -> dict[str, Postings]:
        delta = self._n - self._built
        if self._post is None or delta > max(4096, self._built // 16):
            self._post = {k: Postings(*self._row_csr(k), self._n) for k in ("has", "not")}
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

    def tier_masks(
        self, pos: Sequence[int], neg: Sequence[int], strict: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boolean masks of the VERIFIED, UNCERTAIN and CONFLICT tiers over alive rows (set algebra).

        ``strict`` (strict negation): VERIFIED also intersects the NOT_HAS posting list of every Q− concept.
        """
        self._postings()
        p, n = as_ids(pos), as_ids(neg)
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
