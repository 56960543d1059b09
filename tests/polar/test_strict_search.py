"""Strict negation (VERIFIED needs the unwanted concepts verified absent) and ``search(strict=True)``."""

from __future__ import annotations

import numpy as np
import pytest

from vimrag.config import Config
from vimrag.polar.retrieval import PolarRetriever
from vimrag.store.base import SourceRecord
from vimrag.types import ConceptEvidence, Item, Locator, LogicState, Modality, Polarity

H, N, U = Polarity.HAS, Polarity.NOT_HAS, Polarity.UNCERTAIN
# name → (text, concepts): the text makes similarity prefer the undecided and conflicting photos.
PHOTOS = {
    "verified": ("photo", {"cup": H, "person": N}),
    "undecided": ("photo cup", {"cup": H, "person": U}),
    "neutral": ("a photo with a cup but no person", {"cup": U, "person": U}),
    "conflict": ("photo with a cup, no person", {"cup": H, "person": H}),
    "no-cup-info": ("a photo no person", {"person": N}),
}


@pytest.fixture
def retriever(tmp_path, bag_embedder):
    pytest.importorskip("lancedb")
    from vimrag.store.lance import LanceStore

    store = LanceStore(tmp_path / "store")
    for i, (name, (text, concepts)) in enumerate(PHOTOS.items()):
        ev = [ConceptEvidence(c, p, 0.9 if p == H else 0.05 if p == N else 0.5) for c, p in concepts.items()]
        vec = np.asarray(bag_embedder.embed([text])[0], dtype=np.float32)
        src = f"/p/{name}.jpg"
        store.replace_source(SourceRecord(src, f"h{i}", 1),
                             [Item(name, src, f"h{i}", Modality.IMAGE, Locator(), text, ev, vector=vec)])

    def make(strict_negation: bool = True, evidence_window: int = 100) -> PolarRetriever:
        cfg = Config().with_overrides({"polar.strict_negation": strict_negation,
                                       "polar.evidence_window": evidence_window})
        return PolarRetriever(store, bag_embedder, cfg)

    yield make
    store.close()


@pytest.mark.integration
def test_undecided_absence_is_not_verified(retriever) -> None:
    res = retriever().search("a photo with a cup but no person", k=5)
    assert [(h.item.id, h.state) for h in res.hits][:1] == [("verified", LogicState.VERIFIED)]
    undecided = next(h for h in res.hits if h.item.id == "undecided")
    assert undecided.state == LogicState.UNCERTAIN and "absence not verified: *person*" in undecided.explanation
    assert res.hits[-1].item.id == "conflict" and res.hits[-1].state == LogicState.CONFLICT
    assert "verified absent: *person*" in res.hits[0].explanation
    # Algorithm 1 as published: the undecided photo counts as verified and its similarity puts it first.
    paper = retriever(strict_negation=False, evidence_window=0).search("a photo with a cup but no person", k=5)
    assert [h.item.id for h in paper.hits[:2]] == ["undecided", "verified"]
    assert {h.state for h in paper.hits[:2]} == {LogicState.VERIFIED}


@pytest.mark.integration
def test_strict_search_returns_only_verified_matches(retriever) -> None:
    r = retriever()
    res = r.search("a photo with a cup but no person", k=4, strict=True)
    assert [h.item.id for h in res.hits] == ["verified"]  # fewer than k rather than an unverified one
    assert any(h.item.id == "conflict" for h in res.excluded)  # still explained as a near-miss
    only_neg = r.search("a photo with no person", k=4, strict=True)
    assert {h.item.id for h in only_neg.hits} == {"verified", "no-cup-info"}
    assert all("person" in h.item.not_has for h in only_neg.hits)


@pytest.mark.integration
def test_unverified_absence_leads_the_neutral_tier(retriever) -> None:
    """(strict VERIFIED) > (Algorithm 1 VERIFIED only) > the rest of the neutral tier > CONFLICT, whatever
    the similarities: the neutral photo's text is the query itself, yet the undecided one (cup verified,
    person undecided) ranks above it."""
    res = retriever().search("a photo with a cup but no person", k=5)
    order = [(h.item.id, h.state) for h in res.hits]
    assert order[:3] == [("verified", LogicState.VERIFIED), ("undecided", LogicState.UNCERTAIN),
                         ("neutral", LogicState.UNCERTAIN)]
    assert order[-1] == ("conflict", LogicState.CONFLICT)
    sims = {h.item.id: h.similarity for h in res.hits}
    assert sims["neutral"] > sims["undecided"] > sims["verified"]  # the tiers, not similarity, decide
    # k smaller than the tiers: still the head of the same order
    assert [h.item.id for h in retriever().search("a photo with a cup but no person", k=2).hits] == [
        "verified", "undecided"]
