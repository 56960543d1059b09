"""PostgresStore specifics: the HNSW tier path and single-transaction replaces."""

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

    store = PostgresStore(_with_schema(PG_URI, "t_" + uuid.uuid4().hex[:12]), polar=PolarConfig(exact_max=16))
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
