"""Ranking inside a logic state by the evidence that an item satisfies the query (vimrag.polar.ranking)."""

from __future__ import annotations

import numpy as np
import pytest

from vimrag.config import Config
from vimrag.models.perceivers.calibration import Calibration, PlattTable
from vimrag.polar.ranking import concept_groups, query_evidence, rank_by_evidence
from vimrag.polar.retrieval import PolarRetriever
from vimrag.store.base import ScoredId, SourceRecord
from vimrag.types import ConceptEvidence, Item, Locator, LogicState, Modality, Polarity

H, N, U = Polarity.HAS, Polarity.NOT_HAS, Polarity.UNCERTAIN


def _item(name: str, scores: dict[str, tuple[Polarity, float]], origin: str = "detector", text: str = "") -> Item:
    ev = [ConceptEvidence(c, p, s, origin) for c, (p, s) in scores.items()]
    return Item(name, f"/p/{name}.jpg", f"h-{name}", Modality.IMAGE, Locator(), text, ev)


def test_evidence_is_the_probability_of_a_and_not_b() -> None:
    it = _item("x", {"dog": (H, 0.9), "person": (N, 0.1), "cat": (U, 0.4)})
    assert query_evidence(it, [["dog"]], [["person"]]) == pytest.approx(0.9 * 0.9)
    assert query_evidence(it, [["dog"], ["cat"]], []) == pytest.approx(0.9 * 0.4)
    assert query_evidence(it, [["dog", "cat"]], []) == pytest.approx(0.9)  # one word, two concepts: the best
    assert query_evidence(it, [["horse"]], []) == 0.0  # wanted but never checked
    assert query_evidence(it, [["dog"]], [["car"]]) == pytest.approx(0.9 * 0.5)  # unwanted, unknown
    assert query_evidence(it, [], []) == 1.0


def test_groups_follow_the_query_words_and_the_kept_concepts() -> None:
    matches = {"puppy": ["dog"], "people": ["person"], "chart": ["figure", "chart"]}
    assert concept_groups(matches, ["puppy", "chart", "unicorn"], ["dog", "figure"]) == [["dog"], ["figure"]]


def test_states_stay_lexicographic_and_evidence_orders_inside_them() -> None:
    items = {
        "sure": _item("sure", {"dog": (H, 0.99), "person": (N, 0.01)}),
        "weak": _item("weak", {"dog": (H, 0.7), "person": (N, 0.2)}),
        "neutral-sure": _item("neutral-sure", {"dog": (U, 0.99), "person": (U, 0.01)}),
        "conflict": _item("conflict", {"dog": (H, 1.0), "person": (H, 0.01)}),
    }
    scored = [ScoredId("weak", LogicState.VERIFIED, 0.9), ScoredId("sure", LogicState.VERIFIED, 0.1),
              ScoredId("neutral-sure", LogicState.UNCERTAIN, 0.95), ScoredId("gone", LogicState.UNCERTAIN, 0.9),
              ScoredId("conflict", LogicState.CONFLICT, 0.99)]
    ranked = rank_by_evidence(scored, items, [["dog"]], [["person"]])
    assert [s.id for s, _ in ranked] == ["sure", "weak", "neutral-sure", "conflict"]  # "gone": removed meanwhile
    assert ranked[0][1] == pytest.approx(0.99 * 0.99)
    # A conflict never rises, whatever its evidence; a neutral item never above a verified one.
    assert [s.state for s, _ in ranked] == [LogicState.VERIFIED, LogicState.VERIFIED, LogicState.UNCERTAIN,
                                             LogicState.CONFLICT]
    # Coarse steps: 0.98 and 0.56 fall in different tenths, 0.98 and 0.93 in the same one → similarity decides.
    close = {"a": _item("a", {"dog": (H, 0.98)}), "b": _item("b", {"dog": (H, 0.93)})}
    pair = [ScoredId("a", LogicState.VERIFIED, 0.1), ScoredId("b", LogicState.VERIFIED, 0.8)]
    assert [s.id for s, _ in rank_by_evidence(pair, close, [["dog"]], [])] == ["a", "b"]
    assert [s.id for s, _ in rank_by_evidence(pair, close, [["dog"]], [], step=0.1)] == ["b", "a"]


def test_calibration_applies_to_the_detector_concepts_only() -> None:
    # A curve that halves the log-odds of "dog": 0.9 → σ(0.5·logit 0.9) = 0.75.
    cal = Calibration(("dog",), PlattTable(np.array([0.0]), np.array([0.5])), {})
    det = _item("d", {"dog": (H, 0.9)})
    vlm = _item("v", {"dog": (H, 0.9)}, origin="vlm")
    assert query_evidence(det, [["dog"]], [], cal) == pytest.approx(0.75, abs=1e-3)
    assert query_evidence(vlm, [["dog"]], [], cal) == pytest.approx(0.9)  # a VLM's P(Yes) is kept


@pytest.fixture
def store(tmp_path, bag_embedder):
    pytest.importorskip("lancedb")
    from vimrag.store.lance import LanceStore

    st = LanceStore(tmp_path / "store")
    photos = {  # the text makes similarity prefer the photo that is least sure to have a dog
        "sure": ("photo", {"dog": (H, 0.99), "person": (N, 0.01)}),
        "weak": ("a photo with a dog but no person", {"dog": (H, 0.71), "person": (N, 0.02)}),
    }
    for name, (text, concepts) in photos.items():
        it = _item(name, concepts, text=text)
        it.vector = np.asarray(bag_embedder.embed([text])[0], dtype=np.float32)
        st.replace_source(SourceRecord(it.source, it.source_hash, 1), [it])
    yield st
    st.close()


@pytest.mark.integration
def test_search_puts_the_surest_match_first(store, bag_embedder) -> None:
    query = "a photo with a dog but no person"
    res = PolarRetriever(store, bag_embedder, Config()).search(query, k=2)
    assert [h.item.id for h in res.hits] == ["sure", "weak"]
    assert res.hits[0].evidence == pytest.approx(0.99 * 0.99)
    assert res.hits[0].to_json()["evidence"] == pytest.approx(0.9801, abs=1e-4)
    paper = PolarRetriever(store, bag_embedder, Config().with_overrides({"polar.evidence_window": 0})).search(query, k=2)
    assert [h.item.id for h in paper.hits] == ["weak", "sure"]  # Algorithm 1: similarity inside the tier
    assert paper.hits[0].evidence is None and "evidence" not in paper.hits[0].to_json()


def test_pages_and_text_keep_their_slots_and_only_pictures_move() -> None:
    photo_weak = _item("photo-weak", {"table": (H, 0.6)})
    photo_sure = _item("photo-sure", {"table": (H, 0.99)})
    page = _item("page", {"table": (H, 0.99)})
    page.modality = Modality.PAGE
    items = {i.id: i for i in (photo_weak, page, photo_sure)}
    scored = [ScoredId("photo-weak", LogicState.VERIFIED, 0.9), ScoredId("page", LogicState.VERIFIED, 0.8),
              ScoredId("photo-sure", LogicState.VERIFIED, 0.1)]
    ranked = [s.id for s, _ in rank_by_evidence(scored, items, [["table"]], [])]
    # the page keeps the slot its text earned; the two photos swap theirs by evidence
    assert ranked == ["photo-sure", "page", "photo-weak"]
