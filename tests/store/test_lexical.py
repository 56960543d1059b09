"""The lexical channel on both stores: BM25 over items' words, fused inside the logic tiers (issue 22).

Real engines: the in-process BM25 index of the embedded store and PostgreSQL full-text search (tsvector +
GIN, BM25 in SQL) for the server store; both must give the same scores, hence the same order."""

from __future__ import annotations

import numpy as np
import pytest

from vimrag.index.lexical import bm25, bm25_idf, item_document, term_counts, tokenize
from vimrag.store.base import LogicQuery, SourceRecord, TextQuery
from vimrag.types import ConceptEvidence, Item, Locator, Modality, Polarity

DIM = 16

TEXTS = [
    "Quarterly sales report: the North region sold 1,240 bicycles in Q3.",
    "The South region sold 980 bicycles in Q3 and 1,100 in Q4.",
    "Valve A-17 maintenance schedule and torque specification.",
    "A photo of a dog running on the beach at sunset.",
    "Bus timetable: route 42 goes to the Lakeside depot every 20 minutes.",
    "Annual revenue grew in 2023 thanks to new bicycles and scooters.",
]


def _vec(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _items(source: str, texts: list[str], rng: np.random.Generator, has: dict[int, str] | None = None) -> list[Item]:
    out = []
    for i, t in enumerate(texts):
        concepts = [ConceptEvidence(has[i], Polarity.HAS, 0.9, "t")] if has and i in has else []
        out.append(Item(id=f"{source}#{i}", source=source, source_hash="h", modality=Modality.TEXT,
                        locator=Locator(chunk=i), text=t, concepts=concepts, vector=_vec(rng)))
    return out


def _write(store, source: str, items: list[Item]) -> None:
    store.replace_source(SourceRecord(source, "h", len(items)), items)


def _reference_bm25(docs: list[str], terms: list[str]) -> np.ndarray:
    stats = [term_counts(d) for d in docs]
    n = len(docs)
    avgdl = sum(s[1] for s in stats) / n
    out = np.zeros(n)
    for t in set(terms):
        df = sum(1 for c, _ in stats if t in c)
        if not df:
            continue
        idf = float(bm25_idf(n, np.array([float(df)]))[0])
        for i, (c, dl) in enumerate(stats):
            if t in c:
                out[i] += float(bm25(np.array([float(c[t])]), np.array([float(dl)]), idf, avgdl)[0])
    return out


def test_an_exact_number_or_code_is_found_by_its_words(store) -> None:
    rng = np.random.default_rng(0)
    _write(store, "docs/report.txt", _items("docs/report.txt", TEXTS, rng))
    q = _vec(rng)  # a query vector unrelated to any item: only the words can find the answer
    for query, want in (("how many bicycles did North sell, 1,240?", 0), ("torque of valve A-17", 2),
                        ("route 42 Lakeside", 4)):
        dense = store.search(q, LogicQuery(), 1)
        hybrid = store.search(q, LogicQuery(), 1, TextQuery(tuple(tokenize(query)), 0.5))
        assert hybrid[0].id == f"docs/report.txt#{want}", query
        assert hybrid[0].lexical and hybrid[0].lexical > 0
        if dense[0].id == hybrid[0].id:  # the random vector happened to pick it: the words must still count
            assert hybrid[0].similarity > 0.5 * dense[0].similarity


def test_lexical_scores_are_bm25_and_follow_adds_and_removes(store) -> None:
    rng = np.random.default_rng(1)
    _write(store, "a.txt", _items("a.txt", TEXTS[:3], rng))
    _write(store, "b.txt", _items("b.txt", TEXTS[3:], rng))
    terms = tokenize("bicycles sold in 2023")
    q = _vec(rng)

    def lexical() -> dict[str, float]:
        res = store.search(q, LogicQuery(), 10, TextQuery(tuple(terms), 1.0))
        return {s.id: float(s.lexical or 0.0) for s in res if s.lexical}

    docs = [item_document(it) for it in _items("a.txt", TEXTS[:3], rng) + _items("b.txt", TEXTS[3:], rng)]
    ref = _reference_bm25(docs, terms)  # the file name is a word of its items too
    got = lexical()
    want = {f"{'a' if i < 3 else 'b'}.txt#{i if i < 3 else i - 3}": v for i, v in enumerate(ref) if v > 0}
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-9)
    store.remove_source("b.txt")  # N, df and the mean length now describe a.txt alone
    ref = _reference_bm25(docs[:3], terms)
    got = lexical()
    assert {k: pytest.approx(v, rel=1e-9) for k, v in got.items()} == \
        {f"a.txt#{i}": v for i, v in enumerate(ref) if v > 0}
    _write(store, "a.txt", _items("a.txt", ["nothing about wheels here"], rng))  # replaced: old words gone
    assert lexical() == {}


def test_logic_tiers_stay_first_and_unwanted_concepts_are_not_words(store) -> None:
    rng = np.random.default_rng(2)
    texts = ["a dog on a red sofa", "red sofa in a showroom", "a red sofa and a cat"]
    _write(store, "p.txt", _items("p.txt", texts, rng, has={0: "dog", 2: "cat"}))
    res = store.search(_vec(rng), LogicQuery(("cat",), ("dog",)), 3, TextQuery(("red", "sofa"), 1.0))
    assert [r.id for r in res] == ["p.txt#2", "p.txt#1", "p.txt#0"]  # verified, neutral, conflict
    assert [int(r.state) for r in res] == [1, 0, -1]
    dog = store.search(_vec(rng), LogicQuery(), 3, TextQuery(("dog",), 1.0))
    assert dog[0].id == "p.txt#0"  # the verified concept's name is a word of the item


@pytest.mark.postgres
def test_both_stores_give_the_same_top_10(tmp_path) -> None:
    from tests.store.conftest import PG_URI, _with_schema

    if not PG_URI:
        pytest.skip("VIMRAG_TEST_PG_URI is not set")
    import uuid

    from vimrag.store.lance import LanceStore
    from vimrag.store.postgres import PostgresStore

    rng = np.random.default_rng(3)
    words = ["alpha", "beta", "gamma", "delta", "north", "south", "1,240", "A-17", "q3", "revenue", "bus"]
    texts = [" ".join(rng.choice(words, rng.integers(1, 9))) for _ in range(120)]
    batches = [(f"s{j}.txt", _items(f"s{j}.txt", texts[j * 30:(j + 1) * 30], rng,
                                    has={i: "dog" for i in range(0, 30, 4)})) for j in range(4)]
    lance = LanceStore(tmp_path / "l")
    pg = PostgresStore(_with_schema(PG_URI, "t_" + uuid.uuid4().hex[:12]))
    try:
        for s in (lance, pg):
            for src, items in batches:
                _write(s, src, items)
            s.remove_source("s2.txt")
        for _ in range(8):
            q = _vec(rng)
            tq = TextQuery(tuple(tokenize(" ".join(rng.choice(words, 3)))), float(rng.choice([0.3, 0.6, 1.0])))
            lq = LogicQuery(("dog",), ()) if rng.random() < 0.5 else LogicQuery()
            a, b = lance.search(q, lq, 10, tq), pg.search(q, lq, 10, tq)
            np.testing.assert_allclose([r.similarity for r in a], [r.similarity for r in b], atol=1e-6)
            same = [x.id == y.id for x, y in zip(a, b, strict=True)]
            # ids may only differ where the fused scores tie
            for x, y, ok in zip(a, b, same, strict=True):
                assert ok or abs(x.similarity - y.similarity) < 1e-6
    finally:
        lance.close()
        pg.drop()
        pg.close()


@pytest.mark.postgres
def test_a_postgres_store_from_before_the_lexical_channel_is_backfilled_on_open(open_backend) -> None:
    store = open_backend()
    if type(store).__name__ != "PostgresStore":
        pytest.skip("PostgreSQL only: the embedded store rebuilds its index from the tables (format 2)")
    rng = np.random.default_rng(4)
    _write(store, "docs/report.txt", _items("docs/report.txt", TEXTS, rng))
    q = _vec(rng)
    tq = TextQuery(tuple(tokenize("valve A-17")), 0.5)
    before = [(s.id, round(float(s.lexical or 0), 9)) for s in store.search(q, LogicQuery(), 3, tq)]
    store._x("UPDATE S.items SET lex = NULL, lex_len = 0")  # as written by a version without the channel
    store._x("DELETE FROM S.lex_df")
    store._x("UPDATE S.meta SET value = '0' WHERE key = 'lex_total'")
    store.close()
    again = open_backend()
    after = [(s.id, round(float(s.lexical or 0), 9)) for s in again.search(q, LogicQuery(), 3, tq)]
    assert after == before and after[0][0] == "docs/report.txt#2"


def test_a_store_tokenized_by_another_tokenizer_version_is_tokenized_again(open_backend, monkeypatch) -> None:
    """TOKENIZER_VERSION is part of what a store's lexical index reflects: the embedded store rebuilds its
    saved index, PostgreSQL refills its tsvectors — no query meets terms of an older tokenizer."""
    import vimrag.index.lexical as lexical

    store = open_backend()
    rng = np.random.default_rng(5)
    _write(store, "docs/report.txt", _items("docs/report.txt", TEXTS, rng))
    store.close()
    monkeypatch.setattr(lexical, "STOPWORDS", lexical.STOPWORDS | {"valve"})  # a newer tokenizer...
    monkeypatch.setattr(lexical, "TOKENIZER_VERSION", lexical.TOKENIZER_VERSION + 1)
    for mod in ("vimrag.store.lance", "vimrag.store.postgres", "vimrag.store.postgres_lexical"):
        monkeypatch.setattr(mod + ".TOKENIZER_VERSION", lexical.TOKENIZER_VERSION)
    again = open_backend()
    res = again.search(_vec(rng), LogicQuery(), 3, TextQuery(("valve",), 1.0))
    assert all(not r.lexical for r in res)  # ...whose stop list now drops "valve": no stale posting is left
