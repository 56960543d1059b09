"""Arrow encoding of items for the LanceDB store: the ``items`` schema, items → one table, list columns → arrays.

Same content per item as :func:`vimrag.store._codec.item_to_row` (which the PostgreSQL store uses), built
column by column: bulk ingest converts 20k items per call, and per-item dicts and ``pa.array`` over lists
of lists were most of the non-index time, so the concept lists are built as flat int32 values + offsets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from vimrag.store import _codec
from vimrag.types import Item

COLUMNS = ("id", "source", "source_hash", "modality", "locator", "text", "concepts", "has", "not_has",
           "uncertain", "entities", "media", "vector", "meta", "generation")


def items_schema(pa: Any, dim: int) -> Any:
    ids = pa.list_(pa.int32())
    return pa.schema([
        ("id", pa.string()), ("source", pa.string()), ("source_hash", pa.string()), ("modality", pa.string()),
        ("locator", pa.string()), ("text", pa.string()), ("concepts", pa.string()), ("has", ids),
        ("not_has", ids), ("uncertain", ids), ("entities", pa.list_(pa.string())), ("media", pa.string()),
        ("vector", pa.list_(pa.float32(), dim)), ("meta", pa.string()), ("generation", pa.string())])


def arrow_rows(pa: Any, schema: Any, dim: int, items: Sequence[Item], ids: dict[str, int], generation: str) -> Any:
    """Items → one Arrow table of ``schema`` (concept names mapped to ids by ``ids``)."""
    n = len(items)
    vec = np.empty((n, dim), np.float32)
    concepts: list[str] = []
    flat: dict[str, list[int]] = {"has": [], "not_has": [], "uncertain": []}
    offs: dict[str, list[int]] = {"has": [0], "not_has": [0], "uncertain": [0]}
    for i, it in enumerate(items):
        text, has, not_has, unc = _codec.concepts_row(it.concepts, ids)
        concepts.append(text)
        for col, lst in (("has", has), ("not_has", not_has), ("uncertain", unc)):
            flat[col].extend(lst)
            offs[col].append(len(flat[col]))
        vec[i] = np.asarray(it.vector, dtype=np.float32).reshape(-1)

    def id_lists(col: str) -> Any:
        return pa.ListArray.from_arrays(pa.array(np.asarray(offs[col], np.int32)),
                                        pa.array(np.asarray(flat[col], np.int32)))

    strings = {
        "id": [it.id for it in items], "source": [it.source for it in items],
        "source_hash": [it.source_hash for it in items], "modality": [str(it.modality) for it in items],
        "locator": [_codec.locator_json(it.locator) for it in items], "text": [it.text for it in items],
        "concepts": concepts, "media": [it.media for it in items],
        "meta": [json.dumps(it.meta, sort_keys=True, default=str) if it.meta else "{}" for it in items],
    }
    arrays = {
        **{c: pa.array(v, pa.string()) for c, v in strings.items()},
        "has": id_lists("has"), "not_has": id_lists("not_has"), "uncertain": id_lists("uncertain"),
        "entities": pa.array([list(it.entities) for it in items], pa.list_(pa.string())),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vec.reshape(-1), pa.float32()), dim),
        "generation": pa.array([generation] * n, pa.string()),
    }
    return pa.table([arrays[c] for c in COLUMNS], schema=schema)


def int_lists(col: Any) -> list[np.ndarray]:
    """Arrow list<int32> column → list of int32 arrays (vectorised via offsets)."""
    if hasattr(col, "combine_chunks"):
        col = col.combine_chunks()
    offsets = np.asarray(col.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    values = np.asarray(col.values.to_numpy(zero_copy_only=False), dtype=np.int32)
    return [values[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
