"""The store interface (DESIGN §3): durable items, their concept sets, and exact "filtered top-k".

A store never decides ranking policy beyond PolarMem's lexicographic order: it returns the top-k items by
(logic state, similarity), exactly, for a query vector and a :class:`LogicQuery`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from vimrag.types import Item, LogicState


@dataclass(frozen=True)
class LogicQuery:
    """Q+ (wanted) and Q− (unwanted) concept names, already normalized to the store's vocabulary.

    ``strict_negation``: VERIFIED also needs every Q− concept verified NOT_HAS (``PolarConfig.strict_negation``,
    see :mod:`vimrag.polar.logic`); False is Algorithm 1 as published.
    """

    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    strict_negation: bool = False


@dataclass(frozen=True)
class TextQuery:
    """The lexical side of a search (issue 22): the query's BM25 terms (:func:`vimrag.index.lexical.tokenize`
    of its positive part) and λ, the lexical weight of the fused similarity (0 = dense only, the paper's;
    1 = BM25 first, dense breaking ties). See :mod:`vimrag.index.fusion`."""

    terms: tuple[str, ...] = ()
    weight: float = 0.0


@dataclass(frozen=True)
class ScoredId:
    """One result: ``similarity`` is what ranked it inside its tier (the fused score under a TextQuery with
    λ > 0, else the cosine); ``dense`` the cosine and ``lexical`` the raw BM25 score (0 when no term matched)."""

    id: str
    state: LogicState
    similarity: float
    dense: float | None = None
    lexical: float | None = None


@dataclass
class SourceRecord:
    """One ingested file: its content hash and how many items it produced. Only complete records are visible."""

    source: str
    source_hash: str
    n_items: int
    meta: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class VectorStore(Protocol):
    uri: str

    def replace_source(self, record: SourceRecord, items: Sequence[Item]) -> None:
        """Atomically replace every item of ``record.source`` with ``items`` (a crash leaves the old or the new)."""
        ...

    def replace_many(self, batch: Sequence[tuple[SourceRecord, Sequence[Item]]]) -> None:
        """Several ``replace_source`` calls in one commit (bulk ingest); each source stays atomic."""
        ...

    def remove_source(self, source: str) -> int:
        """Delete a source's items and every edge derived from them, atomically. Returns items removed."""
        ...

    def sources(self) -> dict[str, SourceRecord]: ...

    def get(self, ids: Sequence[str]) -> list[Item]: ...

    def iter_items(self, batch_size: int = 1024) -> Iterator[Item]: ...

    def items_of(self, source: str) -> list[Item]:
        """Every item of one committed source (e.g. to re-embed it without reading the file again)."""
        ...

    def count(self) -> int: ...

    def vocabulary(self) -> list[str]:
        """All concept names present in memory (HAS, NOT_HAS or UNCERTAIN on some item)."""
        ...

    def search(self, vector: np.ndarray, query: LogicQuery, k: int, text: TextQuery | None = None
               ) -> list[ScoredId]:
        """Exact top-k by (LogicState desc, similarity desc). Conflicts come last. The similarity is the
        cosine, or with ``text`` the fused dense + BM25 score of :mod:`vimrag.index.fusion`."""
        ...

    def cache_get(self, keys: Sequence[str]) -> dict[str, float]:
        """Verification cache lookup: key = f"{item_content_hash}|{concept}|{model}" → score."""
        ...

    def cache_put(self, values: dict[str, float]) -> None: ...

    def close(self) -> None: ...
