"""PostgresStore specifics: the SQL planner's HNSW tier path, single-transaction replaces, and the in-process
index (polar.pg_search = "index") kept current by the change log."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from vimrag.config import PolarConfig
from vimrag.errors import StoreError
from vimrag.store.base import LogicQuery

from .conftest import PG_URI, _with_schema, pg_skip, random_source
from .test_contract import reference_search

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pg_skip]
DIM = 16


@pytest.fixture
def pg():
    from vimrag.store.postgres import PostgresStore

    store = PostgresStore(_with_schema(PG_URI, "t_" + uuid.uuid4().hex[:12]), polar=PolarConfig(exact_max=16, pg_search="sql"))
    yield store
    store.drop()
    store.close()


def test_ann_tiers_stay_exact(pg) -> None:
    """With exact_max=16 every large tier goes through HNSW + iterative scan (or its exact fallback)."""
    rng = np.random.default_rng(5)
    vocab = ["a", "b", "c", "d"]
    items = []
    for s in range(4):
        rec, its = random_source(rng, f"s{s}", 100, vocab, DIM)
        pg.replace_source(rec, its)
        items += its
    assert pg._has_ann_index()
    for _ in range(20):
        q = rng.standard_normal(DIM).astype(np.float32)
        query = LogicQuery(tuple(rng.choice(vocab, 2, replace=False)), tuple(rng.choice(vocab, 1)))
        got = pg.search(q, query, 10)
        want = reference_search(items, q, query, 10)
        assert [(h.id, int(h.state)) for h in got] == [(w[0], w[1]) for w in want]


def test_failed_replace_rolls_back_everything(pg, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    rec, items = random_source(rng, "a", 5, ["dog", "cat"], DIM, version=0)
    pg.replace_source(rec, items)
    before = (pg.count(), pg.vocabulary(), pg.sources(), sorted(i.text for i in pg.iter_items()))

    def boom(source, sign):
        if sign > 0:
            pg._x("SELECT 1/0")  # fails after the old rows were deleted and the new rows copied

    monkeypatch.setattr(pg, "_count_delta", boom)
    rec2, items2 = random_source(rng, "a", 3, ["owl"], DIM, version=1)
    with pytest.raises(StoreError, match="division by zero"):
        pg.replace_source(rec2, items2)
    monkeypatch.undo()
    assert (pg.count(), pg.vocabulary(), pg.sources(), sorted(i.text for i in pg.iter_items())) == before
    pg.replace_source(rec2, items2)  # and the same write then succeeds
    assert pg.count() == 3 and pg.vocabulary() == ["owl"]


def _open(uri: str):  # type: ignore[no-untyped-def]
    from vimrag.store.postgres import PostgresStore

    return PostgresStore(uri, polar=PolarConfig(pg_search="index"))


def _agree(store, items, rng, vocab, n: int = 15) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        q = rng.standard_normal(DIM).astype(np.float32)
        query = LogicQuery(tuple(rng.choice(vocab, 2, replace=False)), tuple(rng.choice(vocab, 1)))
        got = store.search(q, query, 10)
        want = reference_search(items, q, query, 10)
        assert [(h.id, int(h.state)) for h in got] == [(w[0], w[1]) for w in want]


@pytest.fixture
def pg_uri(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VIMRAG_CACHE_DIR", str(tmp_path / "cache"))
    uri = _with_schema(PG_URI, "t_" + uuid.uuid4().hex[:12])
    yield uri
    s = _open(uri)
    s.drop()
    s.close()


def test_index_sees_another_process_commits_at_its_next_search(pg_uri) -> None:
    """Two connections (two processes): the reader's in-process index follows the writer's replaces and
    removals through the change log, and stays exact."""
    rng = np.random.default_rng(11)
    vocab = ["a", "b", "c", "d", "e"]
    reader, writer = _open(pg_uri), _open(pg_uri)
    live: dict[str, list] = {}
    for s in range(3):
        rec, its = random_source(rng, f"s{s}", 60, vocab, DIM)
        writer.replace_source(rec, its)
        live[rec.source] = its
    _agree(reader, [i for its in live.values() for i in its], rng, vocab)  # built from the rows
    rec, its = random_source(rng, "s1", 40, vocab, DIM, version=1)  # replaced
    writer.replace_source(rec, its)
    live["s1"] = its
    writer.remove_source("s0")
    del live["s0"]
    rec, its = random_source(rng, "s9", 30, ["e", "f"], DIM)  # new, with a concept the reader never saw
    writer.replace_source(rec, its)
    live["s9"] = its
    _agree(reader, [i for its in live.values() for i in its], rng, vocab + ["f"])
    assert len(reader.search(np.ones(DIM, np.float32), LogicQuery(), 500)) == 130
    reader.close()
    writer.close()


def test_saved_index_is_reused_and_caught_up(pg_uri, monkeypatch) -> None:
    from vimrag.store.postgres_index import PgIndex

    rng = np.random.default_rng(12)
    vocab = ["a", "b", "c"]
    s = _open(pg_uri)
    live: dict[str, list] = {}
    for i in range(2):
        rec, its = random_source(rng, f"s{i}", 50, vocab, DIM)
        s.replace_source(rec, its)
        live[rec.source] = its
    _agree(s, [i for its in live.values() for i in its], rng, vocab, 3)
    s.close()  # saved in the cache folder
    other = _open(pg_uri)  # commits after the save: the next process must catch up on them
    rec, its = random_source(rng, "s0", 20, vocab, DIM, version=1)
    other.replace_source(rec, its)
    live["s0"] = its
    other.close()

    def no_build(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the saved index should have been loaded, not rebuilt")

    monkeypatch.setattr(PgIndex, "_build", no_build)
    again = _open(pg_uri)
    _agree(again, [i for its in live.values() for i in its], rng, vocab)
    again.close()


def test_index_of_a_dropped_store_is_not_reused(pg_uri) -> None:
    rng = np.random.default_rng(13)
    s = _open(pg_uri)
    s.replace_source(*random_source(rng, "old", 30, ["a"], DIM))
    assert len(s.search(np.ones(DIM, np.float32), LogicQuery(), 100)) == 30
    folder = s._index.folder
    s.close()
    assert (folder / "index" / "stamp.json").is_file()
    # another client drops the schema and writes a new store under the same name; this machine's saved index
    # (same URI) belongs to the old one
    import shutil

    shutil.copytree(folder, folder.with_name("kept"))
    dropper = _open(pg_uri)
    dropper.drop()
    dropper.close()
    shutil.copytree(folder.with_name("kept"), folder)
    fresh = _open(pg_uri)
    rec, items = random_source(rng, "new", 12, ["b"], DIM)
    fresh.replace_source(rec, items)
    fresh.close()
    again = _open(pg_uri)
    hits = again.search(np.ones(DIM, np.float32), LogicQuery(), 100)
    assert sorted(h.id for h in hits) == sorted(i.id for i in items)
    again.close()


def test_sql_and_index_search_agree_with_text(pg_uri) -> None:
    """The same store searched both ways, with the lexical channel: the same ids in the same order."""
    from vimrag.store.base import TextQuery
    from vimrag.store.postgres import PostgresStore

    rng = np.random.default_rng(14)
    vocab = ["a", "b", "c"]
    idx = _open(pg_uri)
    for i in range(3):
        idx.replace_source(*random_source(rng, f"s{i}", 40, vocab, DIM))
    sql = PostgresStore(pg_uri, polar=PolarConfig(pg_search="sql"))
    for terms in (("item", "s1"), ("v0",), ("entity3", "nothing")):
        q = rng.standard_normal(DIM).astype(np.float32)
        query = LogicQuery(("a",), ("b",))
        a = idx.search(q, query, 10, TextQuery(terms, 0.3))
        b = sql.search(q, query, 10, TextQuery(terms, 0.3))
        assert [h.id for h in a] == [h.id for h in b]
        assert [h.similarity for h in a] == pytest.approx([h.similarity for h in b], abs=1e-5)
    idx.close()
    sql.close()


def test_a_database_lost_while_indexing_is_a_clear_error(pg_uri, monkeypatch) -> None:
    import psycopg

    s = _open(pg_uri)
    s.replace_source(*random_source(np.random.default_rng(15), "a", 5, ["x"], DIM))

    def lost(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(s._index, "_x", lost)
    with pytest.raises(StoreError, match="search index failed: server closed"):
        s.search(np.ones(DIM, np.float32), LogicQuery(), 3)
    monkeypatch.undo()
    assert len(s.search(np.ones(DIM, np.float32), LogicQuery(), 3)) == 3  # and it recovers
    s.close()
