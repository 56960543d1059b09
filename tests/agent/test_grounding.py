"""Coordinate-grounded answering (PolarMem Appendix B): a global view and 0–1000 slices of the evidence
images, as images for a VLM and as located objects and OCR lines for the text-only model."""

from __future__ import annotations

import json

from vimrag.agent.grounding import crop, slice_boxes
from vimrag.agent.loop import AgentLoop as Agent
from vimrag.models.base import ConceptScore
from vimrag.polar.build import located_objects
from vimrag.types import ConceptEvidence, Polarity


def J(**kw) -> str:
    return json.dumps(kw)


def test_slices_cover_the_image_with_half_overlap() -> None:
    assert slice_boxes(1.0) == [(0, 0, 1000, 1000)]
    boxes = slice_boxes(0.5)
    assert boxes[0] == (0, 0, 1000, 1000) and len(boxes) == 1 + 9
    assert (0, 0, 500, 500) in boxes and (250, 250, 750, 750) in boxes and (500, 500, 1000, 1000) in boxes
    assert all(b[2] - b[0] == 500 for b in boxes[1:])


def test_crop_is_the_named_region() -> None:
    from PIL import Image

    img = Image.new("RGB", (200, 100))
    assert crop(img, (0, 0, 500, 500)).size == (100, 50) and crop(img, (500, 500, 1000, 1000)).size == (100, 50)


def test_objects_are_stored_on_the_0_1000_scale_for_has_concepts_only() -> None:
    scores = [ConceptScore("cup", [0.9], (10.0, 20.0, 30.0, 40.0)), ConceptScore("person", [0.0], (0.0, 0.0, 5.0, 5.0)),
              ConceptScore("dog", [0.9], None)]
    concepts = [ConceptEvidence("cup", Polarity.HAS, 0.9), ConceptEvidence("person", Polarity.NOT_HAS, 0.0),
                ConceptEvidence("dog", Polarity.HAS, 0.9)]
    assert located_objects(scores, concepts, (100, 200)) == [["cup", 100, 100, 300, 200]]


def _script(final: str) -> list[str]:
    return [
        J(action="retrieve", query="what is on the table", parents=[0]),
        J(action="memorize", summary="A photo of a cafe table.", keep=[1, 2], scores={"1": 5}),
        J(action="answer", answer="a mug", cite=["1.1"]),
        final,
    ]


def test_the_text_model_sees_where_the_objects_are_and_may_revise(corpus, config, scripted) -> None:
    corpus.items[3].meta["objects"] = [["cup", 100, 550, 400, 900], ["dining table", 0, 500, 1000, 1000]]
    cfg = config.with_overrides({"agent.grounding": True})
    llm = scripted(_script(J(action="answer", answer="a cup", cite=["1.1"])))
    res = Agent(llm, corpus, cfg).ask("What is on the table in the coffee photo?", method="vimrag", save=False)
    assert res.answer == "a cup" and res.record.steps[-1].grounded[0] == "1.1"
    prompt = llm.calls[-1][-1].content
    assert "[0,0,1000,1000] objects: cup [100,550,400,900]; dining table [0,500,1000,1000]" in prompt
    assert "[0,500,500,1000] objects: cup [100,550,400,900]" in prompt  # the slice that holds the cup
    assert "0-1000 scale" in prompt and llm.calls[-1][-2].content.startswith('{"action": "answer"')


def test_a_vlm_gets_the_global_view_and_the_slices_as_labelled_images(corpus, config, scripted) -> None:
    cfg = config.with_overrides({"agent.grounding": True, "agent.grounding_items": 1})
    llm = scripted(_script(J(action="answer", answer="a cup")), supports_images=True)
    res = Agent(llm, corpus, cfg).ask("What is on the table in the coffee photo?", method="vimrag", save=False)
    images = llm.calls[-1][-1].images
    assert res.answer == "a cup" and len(images) == 10
    assert images[0].label == "1.1@[0,0,1000,1000]" and images[1].label == "1.1@[0,0,500,500]"
    assert images[1].image.size == (32, 24)


def test_an_unusable_second_answer_keeps_the_first(corpus, config, scripted) -> None:
    cfg = config.with_overrides({"agent.grounding": True})
    res = Agent(scripted(_script("no json")), corpus, cfg).ask("What is on the table?", method="vimrag", save=False)
    assert res.answer == "a mug"
