"""LanceDB plumbing of the embedded store: tables, the writers' file lock, scans, garbage collection.

Writers serialise on ``<uri>/write.lock`` (``flock``: released by the kernel if the process dies). Rows
of a generation whose source record was never committed, or was superseded, are garbage left by a killed
writer; :func:`collect_garbage` deletes them on the next open (the crash-safety protocol is in
:mod:`vimrag.store.lance`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from vimrag.errors import StoreError
from vimrag.store import _codec
from vimrag.store.base import SourceRecord

IN_CHUNK = 512  # values per SQL IN (...) list


def open_or_create(db: Any, name: str, schema: Any) -> Any:
    """The table ``name``; created with ``schema`` when missing (None: leave it missing)."""
    try:
        return db.open_table(name)
    except (ValueError, FileNotFoundError, RuntimeError):
        if schema is None:
            return None
        return db.create_table(name, schema=schema, exist_ok=True)


@contextlib.contextmanager
def write_lock(root: Path, blocking: bool = True) -> Iterator[bool]:
    """Hold ``<root>/write.lock``; yields False at once if ``blocking`` is off and another writer holds it.

    A store this process may not write (read-only folder or file) raises :class:`StoreError`: reads go on
    without the lock, writes stop with one clear line.
    """
    try:
        fd = os.open(root / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"the store {root} is read-only for this user ({exc.strerror or exc}): "
                         "searching works, writing does not") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def scan(table: Any, columns: list[str], where: str | None = None) -> Iterator[Any]:
    """Arrow batches of ``columns`` (rows matching ``where``); nothing for a missing table."""
    if table is None:
        return
    q = table.search().select(columns)
    if where:
        q = q.where(where)
    yield from q.limit(None).to_batches()


def read_sources(sources_t: Any) -> dict[str, tuple[SourceRecord, str]]:
    """Committed sources: path → (record, generation)."""
    out: dict[str, tuple[SourceRecord, str]] = {}
    for b in scan(sources_t, ["source", "source_hash", "n_items", "meta", "generation"]):
        for s, h, n, m, g in zip(*(b.column(c).to_pylist() for c in b.schema.names), strict=True):
            out[s] = (SourceRecord(s, h, int(n), json.loads(m or "{}")), g)
    return out


def collect_garbage(items_t: Any, committed: dict[str, tuple[SourceRecord, str]]) -> None:
    """Delete rows of uncommitted or superseded generations (left by a killed writer)."""
    if items_t is None:
        return
    gens: set[str] = set()
    for b in scan(items_t, ["source", "generation"]):
        src, gen = b.column("source").to_pylist(), b.column("generation").to_pylist()
        gens.update(g for s, g in zip(src, gen, strict=True) if s not in committed or committed[s][1] != g)
    for part in _codec.chunks(sorted(gens), IN_CHUNK):
        items_t.delete("generation IN (" + ", ".join(map(_codec.sql_quote, part)) + ")")


def ensure_scalar_indexes(items_t: Any) -> None:
    """Label-list indexes on the concept arrays, B-trees on id/source (created once, refreshed by optimize)."""
    names = {cfg.name for cfg in items_t.list_indices()}
    for col, kind in (("has", "LABEL_LIST"), ("not_has", "LABEL_LIST"), ("uncertain", "LABEL_LIST"),
                      ("id", "BTREE"), ("source", "BTREE")):
        if f"{col}_idx" not in names:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                items_t.create_scalar_index(col, index_type=kind)


def cache_get(cache_t: Any, keys: Sequence[str]) -> dict[str, float]:
    """Cached verification scores for ``keys`` (those present)."""
    out: dict[str, float] = {}
    for part in _codec.chunks(list(dict.fromkeys(keys)), IN_CHUNK):
        where = "key IN (" + ", ".join(map(_codec.sql_quote, part)) + ")"
        for b in scan(cache_t, ["key", "score"], where):
            out.update(zip(b.column("key").to_pylist(), b.column("score").to_pylist(), strict=True))
    return out


def cache_put(pa: Any, cache_t: Any, values: dict[str, float]) -> None:
    """Upsert verification scores (the caller holds the write lock)."""
    t = pa.table({"key": pa.array(list(values), pa.string()),
                  "score": pa.array([float(v) for v in values.values()], pa.float64())})
    cache_t.merge_insert("key").when_matched_update_all().when_not_matched_insert_all().execute(t)


def committed_batches(pa: Any, items_t: Any, columns: list[str], committed: dict[str, str]) -> Iterator[Any]:
    """Batches of ``columns`` (which include ``source`` and ``generation``) holding only rows of committed
    generations (``committed``: source → generation)."""
    for b in scan(items_t, columns):
        src, gen = b.column("source").to_pylist(), b.column("generation").to_pylist()
        keep = [committed.get(s) == g for s, g in zip(src, gen, strict=True)]
        if any(keep):
            yield b.filter(pa.array(keep))


def short_error(exc: BaseException) -> str:
    """The first line of a LanceDB error, without its Rust source location."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(", /")[0].removeprefix("lance error: ")
