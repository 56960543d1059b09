"""On-disk format of the index, so that a CLI process loads it instead of rebuilding it (module docstring
of :mod:`vimrag.index.core`, point 5): ``np.save`` arrays, ``meta.json``, and the HNSW graph written
without its flat storage (the vectors are already in ``vectors.npy``; reading refills it).

A directory is replaced whole (written beside, then renamed), so a crash leaves the old index or the new
one. Format 1 (graph with its storage, no projection) is still read; the projection is then refitted.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from vimrag._extras import require
from vimrag.errors import StoreError

FORMAT = 2  # 2: projection P, row coordinates and residual norms; graph without its flat storage
_READABLE = (1, 2)


def write_index(final: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any], graph: Any = None) -> None:
    """Write ``arrays`` (name → array), ``meta`` and the faiss ``IndexIDMap`` ``graph`` (if any) to ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    d = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    for name, array in arrays.items():
        np.save(d / f"{name}.npy", array)
    if graph is not None:
        faiss = require("faiss", "store", "faiss-cpu")
        # The graph only (links, levels): its flat storage would duplicate vectors.npy, so reading refills
        # it. The id map is saved beside it (IndexIDMap's writer does not pass the skip flag down).
        faiss.write_index(faiss.downcast_index(graph.index), str(d / "hnsw.faiss"), faiss.IO_FLAG_SKIP_STORAGE)
        np.save(d / "hnsw_ids.npy", faiss.vector_to_array(graph.id_map).astype(np.int64))
    (d / "meta.json").write_text(json.dumps({**meta, "format": FORMAT}))
    # Swap the complete new directory in: a crash leaves the old index or the new one, never a mix.
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    d.rename(final)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def read_meta(d: Path) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads((d / "meta.json").read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read polar index in {d}: {exc}") from exc
    if meta.get("format") not in _READABLE:
        raise StoreError(f"polar index in {d} has format {meta.get('format')}, expected {FORMAT}")
    return meta


def read_array(d: Path, name: str) -> np.ndarray:
    return np.load(d / f"{name}.npy")


def read_graph(d: Path, meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The saved HNSW graph's bytes (and its ids, format 2), or None when none was saved.

    Only the files are read here; :func:`graph_from_bytes` builds the faiss index when a search first
    needs it (a one-query CLI over small tiers never does: it saves ~0.7 s at 200k rows). Reading the
    bytes now keeps the graph consistent with the vectors loaded beside it, whatever a writer does later.
    """
    ann_path = d / "hnsw.faiss"
    if not meta.get("ann_rows") or not ann_path.exists():
        return None
    raw = np.fromfile(ann_path, dtype=np.uint8)
    ids = None if meta["format"] == 1 else np.load(d / "hnsw_ids.npy")
    return raw, ids


def graph_from_bytes(raw: np.ndarray, ids: np.ndarray | None, vectors: np.ndarray, hnsw_m: int, where: Path) -> Any:
    """The faiss ``IndexIDMap`` of :func:`read_graph`'s bytes over ``vectors``."""
    faiss = require("faiss", "store", "faiss-cpu")
    if ids is None:  # format 1: the graph was written with its storage
        return faiss.deserialize_index(raw)
    n, dim = vectors.shape
    inner = faiss.deserialize_index(raw)  # graph written without storage: refill it, rewrap it
    if ids.size != inner.ntotal or (ids.size and (ids.min() < 0 or ids.max() >= n)):
        raise StoreError(f"polar index in {where}: HNSW ids do not match the {n} rows")
    flat = faiss.IndexFlatIP(dim)
    for a in range(0, ids.size, 65536):
        flat.add(vectors[ids[a : a + 65536]])
    flat.this.disown()
    inner.storage = flat
    inner.own_fields = True
    ann = faiss.IndexIDMap(faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT))
    inner.this.disown()
    ann.index = inner
    ann.own_fields = True
    faiss.copy_array_to_vector(ids, ann.id_map)
    ann.ntotal = inner.ntotal
    return ann
