"""The VectorStore contract, identical for every backend (DESIGN §3)."""

from __future__ import annotations

import numpy as np
import pytest

from vimrag.errors import StoreError
from vimrag.store.base import LogicQuery, SourceRecord, VectorStore
from vimrag.types import Item, LogicState, Polarity

from .conftest import make_item, random_source

DIM = 16


def reference_search(items: list[Item], q: np.ndarray, query: LogicQuery, k: int) -> list[tuple[str, int, float]]:
    """Brute force Algorithm 1 on names, in float64: the independent reference."""
    pos, neg = set(query.positive), set(query.negative)
    qn = q.astype(np.float64) / np.linalg.norm(q)
    rows = []
    for it in items:
        has, not_has = set(it.has), set(it.not_has)
        state = -1 if (pos & not_has or neg & has) else (1 if pos & has else 0)
        v = it.vector.astype(np.float64)
        rows.append((it.id, state, float(v @ qn / np.linalg.norm(v))))
    rows.sort(key=lambda r: (-r[1], -r[2], r[0]))
    return rows[:k]


def test_satisfies_protocol(store) -> None:
    assert isinstance(store, VectorStore)


def test_empty_store(store) -> None:
    assert store.count() == 0
    assert store.vocabulary() == []
    assert store.sources() == {}
    assert store.get(["nope"]) == []
    assert list(store.iter_items()) == []
    assert store.search(np.ones(DIM, np.float32), LogicQuery(("dog",), ()), 5) == []
    assert store.remove_source("missing.pdf") == 0


def test_round_trip_all_fields(store) -> None:
    vec = np.linspace(-1, 1, DIM, dtype=np.float32)
    it = make_item("docs/a.pdf", 0, {"dog": Polarity.HAS, "cat": Polarity.NOT_HAS, "ball": Polarity.UNCERTAIN}, vec)
    store.replace_source(SourceRecord("docs/a.pdf", "h0", 1, {"pages": 1}), [it])
    [got] = store.get([it.id])
    assert got.vector is not None and got.vector.dtype == np.float32
    np.testing.assert_array_equal(got.vector, vec)
    for f in ("id", "source", "source_hash", "modality", "locator", "text", "entities", "media", "meta"):
        assert getattr(got, f) == getattr(it, f), f
    assert [c.to_dict() for c in got.concepts] == [c.to_dict() for c in it.concepts]
    assert store.sources()["docs/a.pdf"] == SourceRecord("docs/a.pdf", "h0", 1, {"pages": 1})
    assert [i.id for i in store.iter_items()] == [it.id]


def test_float64_input_is_stored_as_float32(store) -> None:
    it = make_item("a.txt", 0, {}, np.arange(1, DIM + 1, dtype=np.float64))
    store.replace_source(SourceRecord("a.txt", "h", 1), [it])
    assert store.get([it.id])[0].vector.dtype == np.float32


def test_replace_and_remove(store) -> None:
    rng = np.random.default_rng(0)
    rec, items = random_source(rng, "a.pdf", 5, ["dog", "cat"], DIM, version=0)
    store.replace_source(rec, items)
    rec_b, items_b = random_source(rng, "b.pdf", 3, ["bird"], DIM)
    store.replace_source(rec_b, items_b)
    assert store.count() == 8
    rec2, items2 = random_source(rng, "a.pdf", 2, ["fish"], DIM, version=1)
    store.replace_source(rec2, items2)
    assert store.count() == 5
    assert store.sources()["a.pdf"].source_hash == "h1"
    assert sorted(i.text for i in store.iter_items() if i.source == "a.pdf") == sorted(i.text for i in items2)
    assert store.get([items[4].id]) == []  # the old version's fifth page is gone
    assert store.remove_source("a.pdf") == 2
    assert store.count() == 3
    assert set(store.sources()) == {"b.pdf"}
    hits = store.search(np.ones(DIM, np.float32), LogicQuery(), 10)
    assert {h.id for h in hits} == {i.id for i in items_b}


def test_vocabulary_tracks_edges(store) -> None:
    v = np.ones(DIM, np.float32)
    store.replace_source(SourceRecord("a", "h", 1), [make_item("a", 0, {"dog": Polarity.HAS, "cat": Polarity.NOT_HAS}, v)])
    store.replace_source(SourceRecord("b", "h", 1), [make_item("b", 0, {"dog": Polarity.UNCERTAIN, "owl": Polarity.HAS}, v)])
    assert store.vocabulary() == ["cat", "dog", "owl"]
    store.remove_source("a")
    assert store.vocabulary() == ["dog", "owl"]
    store.replace_source(SourceRecord("b", "h2", 1), [make_item("b", 0, {"eel": Polarity.HAS}, v)])
    assert store.vocabulary() == ["eel"]


def test_cache(store) -> None:
    assert store.cache_get(["x|dog|m"]) == {}
    store.cache_put({"x|dog|m": 0.75, "x|cat|m": 0.1})
    store.cache_put({"x|dog|m": 0.5})
    assert store.cache_get(["x|dog|m", "x|cat|m", "y|dog|m"]) == {"x|dog|m": 0.5, "x|cat|m": pytest.approx(0.1)}


def test_bad_input_is_rejected_and_loses_nothing(store) -> None:
    v = np.ones(DIM, np.float32)
    store.replace_source(SourceRecord("a", "h", 1), [make_item("a", 0, {"dog": Polarity.HAS}, v)])
    with pytest.raises(StoreError, match="-d"):
        store.replace_source(SourceRecord("a", "h2", 1), [make_item("a", 0, {}, np.ones(DIM + 1, np.float32))])
    with pytest.raises(StoreError, match="belongs to"):
        store.replace_source(SourceRecord("a", "h2", 1), [make_item("b", 0, {}, v)])
    with pytest.raises(StoreError, match="no vector"):
        store.replace_source(SourceRecord("a", "h2", 1), [make_item("a", 0, {}, None)])  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="non-finite"):
        store.replace_source(SourceRecord("a", "h2", 1), [make_item("a", 0, {}, np.full(DIM, np.nan, np.float32))])
    assert store.count() == 1 and store.sources()["a"].source_hash == "h"
    assert store.vocabulary() == ["dog"]


def test_unknown_concepts_match_nothing(store) -> None:
    v = np.ones(DIM, np.float32)
    store.replace_source(SourceRecord("a", "h", 1), [make_item("a", 0, {"dog": Polarity.HAS}, v)])
    [hit] = store.search(v, LogicQuery(("unicorn",), ("dragon",)), 3)
    assert hit.state is LogicState.UNCERTAIN and hit.similarity == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_search_is_exact_lexicographic(store, seed: int) -> None:
    rng = np.random.default_rng(seed)
    vocab = [f"c{i}" for i in range(12)]
    items: list[Item] = []
    for s in range(6):
        rec, its = random_source(rng, f"s{s}", int(rng.integers(1, 40)), vocab, DIM)
        store.replace_source(rec, its)
        items += its
    for _ in range(25):
        q = rng.standard_normal(DIM).astype(np.float32)
        pos = tuple(rng.choice(vocab + ["unknown"], size=int(rng.integers(0, 3)), replace=False).tolist())
        neg = tuple(rng.choice(vocab, size=int(rng.integers(0, 2)), replace=False).tolist())
        k = int(rng.integers(1, 30))
        query = LogicQuery(pos, neg)
        got = store.search(q, query, k)
        want = reference_search(items, q, query, k)
        assert [(h.id, int(h.state)) for h in got] == [(w[0], w[1]) for w in want], (pos, neg, k)
        np.testing.assert_allclose([h.similarity for h in got], [w[2] for w in want], atol=1e-5)
        states = [int(h.state) for h in got]
        assert states == sorted(states, reverse=True)  # a conflict never outranks a non-conflict


def test_restart_persistence(open_backend) -> None:
    rng = np.random.default_rng(7)
    store = open_backend()
    vocab = ["dog", "cat", "car"]
    for s in range(3):
        store.replace_source(*random_source(rng, f"s{s}", 10, vocab, DIM))
    store.remove_source("s1")
    q = rng.standard_normal(DIM).astype(np.float32)
    query = LogicQuery(("dog",), ("cat",))
    before = store.search(q, query, 12)
    srcs, voc, n = store.sources(), store.vocabulary(), store.count()
    store.close()
    again = open_backend()
    assert again.search(q, query, 12) == before
    assert (again.sources(), again.vocabulary(), again.count()) == (srcs, voc, n)
    assert {i.source for i in again.iter_items()} == {"s0", "s2"}


def test_same_content_at_two_paths(store) -> None:
    """Item ids come from the content hash, so a copied file yields the same ids under another source."""
    v = np.ones(DIM, np.float32)
    a = make_item("a", 0, {"dog": Polarity.HAS}, v)
    b = make_item("a", 0, {"dog": Polarity.HAS}, v)
    b.source = "copy/a"
    store.replace_source(SourceRecord("a", "h", 1), [a])
    store.replace_source(SourceRecord("copy/a", "h", 1), [b])
    hits = store.search(v, LogicQuery(("dog",)), 5)
    assert [h.id for h in hits] == [a.id]  # no duplicate ids in a result
    store.remove_source("a")
    assert [i.source for i in store.get([a.id])] == ["copy/a"]
    assert store.vocabulary() == ["dog"]


def test_empty_source_replaced_again_before_any_item(store) -> None:
    """An empty file ingested twice (changed, still empty) before the store holds any item."""
    store.replace_source(SourceRecord("empty.txt", "h1", 0), [])
    store.replace_source(SourceRecord("empty.txt", "h2", 0), [])
    assert store.sources()["empty.txt"].source_hash == "h2" and store.count() == 0
    assert store.remove_source("empty.txt") == 0 and "empty.txt" not in store.sources()


def test_a_store_opened_empty_sees_another_writer(open_backend) -> None:
    """A server's reader opens the store before its ingest worker (another store object) writes the first
    items: the reader must find them (PostgreSQL: the items table did not exist when it opened)."""
    rng = np.random.default_rng(3)
    reader = open_backend()
    q = rng.standard_normal(DIM).astype(np.float32)
    assert reader.search(q, LogicQuery((), ()), 5) == []
    writer = open_backend()
    writer.replace_source(*random_source(rng, "s0", 6, ["dog"], DIM))
    getattr(reader, "refresh", lambda: None)()  # an embedded store picks commits up on refresh (≤ 1 s)
    assert len(reader.search(q, LogicQuery((), ()), 5)) == 5
    assert {i.source for i in reader.iter_items()} == {"s0"}


def test_items_of_returns_one_committed_source(store) -> None:
    rng = np.random.default_rng(7)
    a, a_items = random_source(rng, "a.pdf", 4, ["cup", "dog"], 8)
    b, b_items = random_source(rng, "b.pdf", 3, ["cup", "dog"], 8)
    store.replace_source(a, a_items)
    store.replace_source(b, b_items)
    assert sorted(i.id for i in store.items_of("a.pdf")) == sorted(i.id for i in a_items)
    a2, a2_items = random_source(rng, "a.pdf", 2, ["cup"], 8, version=1)
    store.replace_source(a2, a2_items)  # only the committed version counts
    got = store.items_of("a.pdf")
    assert sorted(i.id for i in got) == sorted(i.id for i in a2_items) and {i.source_hash for i in got} == {"h1"}
    assert store.items_of("missing.pdf") == []
