"""Shared (de)serialisation and validation for the store backends.

Both backends store the same columns: id, source, source_hash, modality, locator (JSON), text, concepts
(JSON with the Eq. 4 scores), the polarised concept ids ``has`` / ``not_has`` / ``uncertain`` (PolarMem
Eq. 6 edges as int32 arrays), entities (ALIGN targets, Eq. 7), media, the float32 vector z_sem (Eq. 10)
and meta (JSON). Keeping the conversion here means a round-trip means the same thing in every backend.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from vimrag.errors import StoreError
from vimrag.index.lexical import document_text, item_document, item_place, term_counts
from vimrag.store.base import SourceRecord
from vimrag.types import ConceptEvidence, Item, Locator, Modality, Polarity


def as_f32_vector(vec: Any, dim: int | None, what: str) -> np.ndarray:
    """Return ``vec`` as a 1-D float32 array, checking its dimension and that it is finite and non-zero.

    NumPy 2 silently promotes float32 to float64 in mixed arithmetic, and a float64 vector written to a
    float32 column is either rejected or silently cast; we cast once here and assert the dtype.
    """
    if vec is None:
        raise StoreError(f"{what} has no vector; every stored item needs z_sem (PolarMem Eq. 10)")
    arr = np.asarray(vec, dtype=np.float32).reshape(-1)
    assert arr.dtype == np.float32
    if dim is not None and arr.shape[0] != dim:
        raise StoreError(f"{what} has a {arr.shape[0]}-d vector but this store holds {dim}-d vectors")
    if not np.all(np.isfinite(arr)):
        raise StoreError(f"{what} has a non-finite vector")
    if not np.any(arr):
        raise StoreError(f"{what} has an all-zero vector (cosine similarity undefined)")
    return arr


def normalize_rows(mat: np.ndarray) -> np.ndarray:
    """Unit-normalize rows (float32) so inner product = cosine similarity."""
    mat = np.ascontiguousarray(mat, dtype=np.float32)
    norms = np.linalg.norm(mat, axis=1, keepdims=True).astype(np.float32)
    norms[norms == 0] = 1.0
    out = (mat / norms).astype(np.float32, copy=False)
    assert out.dtype == np.float32
    return out


def validate_batch(record: SourceRecord, items: Sequence[Item], dim: int | None) -> int | None:
    """Check a replace_source batch before anything is written; returns the vector dimension in use.

    Vector checks are vectorised over the batch (one finiteness and one norm test), so bulk ingest pays
    one pass over the matrix rather than several NumPy calls per item.
    """
    if not record.source:
        raise StoreError("a source record needs a non-empty source path")
    seen: set[str] = set()
    for it in items:
        if it.source != record.source:
            raise StoreError(f"item {it.id} belongs to {it.source!r}, not to the source being replaced "
                             f"{record.source!r}")
        if it.id in seen:
            raise StoreError(f"duplicate item id {it.id} in source {record.source!r}")
        seen.add(it.id)
        if it.vector is None:
            raise StoreError(f"item {it.id} of {record.source!r} has no vector; every stored item needs "
                             "z_sem (PolarMem Eq. 10)")
        n = int(np.size(it.vector))
        if dim is not None and n != dim:
            raise StoreError(f"item {it.id} of {record.source!r} has a {n}-d vector but this store holds "
                             f"{dim}-d vectors")
        dim = n if dim is None else dim
    if items:
        mat = np.asarray([np.asarray(it.vector, dtype=np.float32).reshape(-1) for it in items], dtype=np.float32)
        bad = ~np.isfinite(mat).all(axis=1)
        if bad.any():
            raise StoreError(f"item {items[int(np.argmax(bad))].id} of {record.source!r} has a non-finite vector")
        zero = ~mat.any(axis=1)
        if zero.any():
            raise StoreError(f"item {items[int(np.argmax(zero))].id} of {record.source!r} has an all-zero vector "
                             "(cosine similarity undefined)")
    return dim


def concept_names(items: Sequence[Item]) -> list[str]:
    names: dict[str, None] = {}
    for it in items:
        for c in it.concepts:
            names.setdefault(c.concept, None)
    return list(names)


_POLARITY_NAME = {p: p.name for p in Polarity}
_EMPTY_LOCATOR = Locator()
_LOCATOR_FIELDS = tuple(Locator.__dataclass_fields__)


def locator_json(loc: Locator) -> str:
    """Same content as ``json.dumps(loc.to_dict(), sort_keys=True)``, without ``dataclasses.asdict``."""
    if loc == _EMPTY_LOCATOR:
        return "{}"
    d: dict[str, Any] = {}
    for k in _LOCATOR_FIELDS:
        v = getattr(loc, k)
        if v is None or v == ():
            continue
        d[k] = list(v) if isinstance(v, tuple) else v
    return json.dumps(d, sort_keys=True)


@functools.lru_cache(maxsize=65536)
def _enc(text: str) -> str:
    return json.dumps(text)


@functools.lru_cache(maxsize=1 << 17)
def _concept_fragment(concept: str, polarity: Polarity, score: float, origin: str) -> str | None:
    """One concept's JSON object (``ConceptEvidence.to_dict`` order); None when the score is not finite.

    Cached: a bulk ingest repeats the same (concept, polarity, score, origin) many times, so most of the
    ~18 concepts per item cost one dictionary lookup instead of a format.
    """
    s = round(float(score), 4)
    if not math.isfinite(s):
        return None
    return (f'{{"concept": {_enc(concept)}, "polarity": "{_POLARITY_NAME[polarity]}", '
            f'"score": {s!r}, "origin": {_enc(origin)}}}')


def concepts_row(concepts: Sequence[ConceptEvidence], ids: Mapping[str, int]
                 ) -> tuple[str, list[int], list[int], list[int]]:
    """The concepts column and the HAS / NOT_HAS / UNCERTAIN id lists (sorted, unique) in one pass.

    The JSON equals ``json.dumps([c.to_dict() for c in concepts])`` (Eq. 4 score rounded to 4 places); it is
    written from cached fragments because this is the hot loop of bulk ingest (~18 concepts per item).
    """
    parts = []
    has: set[int] = set()
    not_has: set[int] = set()
    unc: set[int] = set()
    finite = True
    for c in concepts:
        p = c.polarity
        f = _concept_fragment(c.concept, p, c.score, c.origin)
        if f is None:
            finite = False
        else:
            parts.append(f)
        (has if p == 1 else not_has if p == -1 else unc).add(ids[c.concept])
    text = "[" + ", ".join(parts) + "]" if finite else json.dumps([x.to_dict() for x in concepts])
    return text, sorted(has), sorted(not_has), sorted(unc)


def item_to_row(item: Item, ids: Mapping[str, int], dim: int) -> dict[str, Any]:
    """One item as a row. Call :func:`validate_batch` first: the vector is only cast here."""
    concepts, has, not_has, uncertain = concepts_row(item.concepts, ids)
    vec = np.asarray(item.vector, dtype=np.float32).reshape(-1)
    assert vec.dtype == np.float32 and vec.shape[0] == dim
    return {
        "id": item.id,
        "source": item.source,
        "source_hash": item.source_hash,
        "modality": str(item.modality),
        "locator": locator_json(item.locator),
        "text": item.text,
        "concepts": concepts,
        "has": has,
        "not_has": not_has,
        "uncertain": uncertain,
        "entities": list(item.entities),
        "media": item.media,
        "vector": vec,
        "meta": json.dumps(item.meta, sort_keys=True, default=str) if item.meta else "{}",
    }


def _load(value: Any, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, str):
        return json.loads(value)
    return value  # already decoded (jsonb)


def row_to_item(row: Mapping[str, Any]) -> Item:
    vec = row.get("vector")
    return Item(
        id=row["id"],
        source=row["source"],
        source_hash=row["source_hash"],
        modality=Modality(row["modality"]),
        locator=Locator.from_dict(_load(row.get("locator"), {})),
        text=row.get("text") or "",
        concepts=[ConceptEvidence.from_dict(d) for d in _load(row.get("concepts"), [])],
        entities=list(row.get("entities") or []),
        media=row.get("media"),
        vector=None if vec is None else np.asarray(vec, dtype=np.float32),
        meta=_load(row.get("meta"), {}),
    )


def record_to_json(record: SourceRecord) -> str:
    return json.dumps(record.meta, sort_keys=True, default=str)


def chunks(seq: Sequence[Any], n: int) -> list[Sequence[Any]]:
    return [seq[i:i + n] for i in range(0, len(seq), n)]


def sql_quote(s: str) -> str:
    """Quote a string literal for a LanceDB (DataFusion SQL) filter."""
    return "'" + s.replace("'", "''") + "'"


def map_query(names: Sequence[str], lookup: Callable[[str], int | None]) -> list[int]:
    """Concept names → ids; unknown names are dropped (an unknown wanted concept matches nothing)."""
    out = []
    for n in names:
        cid = lookup(n)
        if cid is not None:
            out.append(int(cid))
    return sorted(set(out))


# A concept id no item can carry: under strict negation an unwanted concept the store has never seen cannot
# be verified absent anywhere, so it stays in Q− as this id (empty posting list) instead of being dropped.
UNSEEN_CONCEPT = 2**31 - 1


def map_negative(names: Sequence[str], lookup: Callable[[str], int | None], strict: bool) -> list[int]:
    """Like :func:`map_query`; with ``strict`` an unknown name becomes :data:`UNSEEN_CONCEPT`."""
    found = {n: lookup(n) for n in names}  # once per name: a SQL store looks unknown names up in the database
    ids = map_query(names, found.get)
    if strict and None in found.values():
        ids.append(UNSEEN_CONCEPT)
    return ids


def lexical_counts(source: str, text: str, meta: Any, locator: Any, has_names: Sequence[str]
                   ) -> tuple[dict[str, int], int]:
    """BM25 statistics of one stored item (:func:`vimrag.index.lexical.document_text`): the same in both
    backends, from the same columns, so a query gets the same lexical scores on either."""
    m = _load(meta, {}) or {}
    loc = _load(locator, {}) or {}
    doc = document_text(source, text or "", str(m.get("caption", "") or ""), has_names,
                        item_place(m, text or "", str(loc.get("sheet") or "")))
    return term_counts(doc)


def item_lexical_counts(item: Item) -> tuple[dict[str, int], int]:
    return term_counts(item_document(item))


def tsvector_literal(counts: Mapping[str, int]) -> str:
    """``'term':1,2,3 …``: a tsvector whose positions count the term's occurrences (tf = #positions).
    Terms hold only word characters and - . / (:func:`~vimrag.index.lexical.tokenize`), so quoting is plain."""
    return " ".join(f"'{t}':" + ",".join(map(str, range(1, n + 1))) for t, n in counts.items())
