"""LanceStore specifics: the persisted PolarIndex, several store objects (processes) on one folder."""

from __future__ import annotations

import numpy as np
import pytest

from vimrag.store.base import LogicQuery
from vimrag.store.lance import LanceStore

from .conftest import random_source

pytestmark = pytest.mark.integration
DIM = 8


def _fill(store: LanceStore, seed: int, names: list[str]) -> None:
    rng = np.random.default_rng(seed)
    for src in names:
        store.replace_source(*random_source(rng, src, 7, ["a", "b", "c"], DIM, version=seed))


def test_reopen_loads_the_persisted_index(tmp_path, monkeypatch) -> None:
    s = LanceStore(tmp_path)
    _fill(s, 0, ["x", "y"])
    q = np.ones(DIM, np.float32)
    before = s.search(q, LogicQuery(("a",), ("b",)), 9)
    s.close()
    assert (tmp_path / "index" / "stamp.json").is_file()

    def no_rebuild(self):
        raise AssertionError("index was rebuilt instead of loaded")

    monkeypatch.setattr(LanceStore, "_rebuild_state", no_rebuild)
    s2 = LanceStore(tmp_path)
    assert s2.search(q, LogicQuery(("a",), ("b",)), 9) == before
    s2.close()


def test_stale_index_is_rebuilt(tmp_path) -> None:
    s = LanceStore(tmp_path)
    _fill(s, 0, ["x"])
    s.close()
    other = LanceStore(tmp_path)
    other.remove_source("x")
    other._dirty = False  # as if killed before close(): the saved index still says "x" exists
    s2 = LanceStore(tmp_path)
    assert s2.count() == 0 and s2.search(np.ones(DIM, np.float32), LogicQuery(), 5) == []


def test_two_handles_on_one_folder_stay_consistent(tmp_path) -> None:
    a, b = LanceStore(tmp_path), LanceStore(tmp_path)
    _fill(a, 1, ["s1", "s2"])
    b.refresh()
    assert b.count() == 14 and set(b.sources()) == {"s1", "s2"}
    _fill(b, 2, ["s2", "s3"])  # b replaces s2 and adds s3
    assert a.remove_source("s1") == 7  # a must see b's commits before writing
    for h in (a, b):
        h.refresh()
        hits = h.search(np.ones(DIM, np.float32), LogicQuery(("a",)), 100)
        assert sorted(x.id for x in hits) == sorted(i.id for i in h.iter_items())
        assert {i.meta["version"] for i in h.iter_items()} == {2}
        assert h.count() == 14
    a.close()
    b.close()
    c = LanceStore(tmp_path)
    assert c.count() == 14 and set(c.sources()) == {"s2", "s3"}
    c.close()


def _deny_writes(monkeypatch: pytest.MonkeyPatch, what: type[OSError], errno_: int, message: str) -> None:
    """Fault injection: the lock file cannot be opened and files cannot be written (read-only or full)."""
    import os

    from vimrag.store import lance_tables

    real_open = os.open

    def deny(path, flags, *args):  # type: ignore[no-untyped-def]
        if str(path).endswith("write.lock"):
            raise what(errno_, message)
        return real_open(path, flags, *args)

    monkeypatch.setattr(lance_tables.os, "open", deny)


def test_a_read_only_store_can_be_searched_and_refuses_writes_in_one_line(tmp_path, monkeypatch) -> None:
    import errno

    from vimrag.errors import StoreError

    s = LanceStore(tmp_path)
    _fill(s, 0, ["x", "y"])
    s.close()
    q = np.ones(DIM, np.float32)
    _deny_writes(monkeypatch, PermissionError, errno.EACCES, "Permission denied")
    ro = LanceStore(tmp_path)  # opening skips garbage collection instead of failing
    assert len(ro.search(q, LogicQuery(("a",),), 5)) == 5
    with pytest.raises(StoreError, match="read-only"):
        ro.replace_source(*random_source(np.random.default_rng(9), "z", 3, ["a"], DIM))
    ro.close()  # a read never fails because the index cache could not be saved


def test_a_full_disk_while_saving_the_index_leaves_the_old_one_and_no_temp(tmp_path, monkeypatch) -> None:
    import errno

    from vimrag.store import index_state

    s = LanceStore(tmp_path)
    _fill(s, 0, ["x"])
    s.close()
    before = (tmp_path / "index" / "stamp.json").read_text()
    s = LanceStore(tmp_path)
    _fill(s, 1, ["y"])

    def full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(index_state.np, "save", full)
    s.close()  # logged, not raised: the tables hold the data, the index is only a cache
    assert not (tmp_path / "index.tmp").exists()
    assert (tmp_path / "index" / "stamp.json").read_text() == before  # the old, now stale, copy
    monkeypatch.undo()
    again = LanceStore(tmp_path)  # stale stamp: rebuilt from the tables, nothing lost
    assert {r.source for r in again.sources().values()} == {"x", "y"}
    assert len(again.search(np.ones(DIM, np.float32), LogicQuery(), 20)) == 14
    again.close()
