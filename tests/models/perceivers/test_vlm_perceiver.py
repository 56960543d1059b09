"""The paper's perceiver over a VLM: proposal JSON, then the yes/no template ensemble (PolarMem Eq. 4)."""

from __future__ import annotations

import pytest
from PIL import Image

from vimrag.config import Config
from vimrag.errors import ConfigError, VimragError
from vimrag.models.jsonparse import JSONExtractionError
from vimrag.models.perceivers import make_perceiver
from vimrag.models.perceivers.vlm import VLMPerceiver, VLMPerceiverOptions, clean_concept, proposals_from_json

TEMPLATES = Config().polar.templates


def _perceiver(vlm, **kw) -> VLMPerceiver:
    return VLMPerceiver(vlm, VLMPerceiverOptions(templates=TEMPLATES, **kw))


def test_proposes_then_verifies_each_concept_with_every_template(scripted_vlm) -> None:
    vlm = scripted_vlm(
        {
            "objects": ["A Cup", "saucer", "cup"],
            "attributes": ["wooden table"],
            "caption": "A cup of coffee.",
        },
        yes={"cup": 0.97, "saucer": 0.8, "wooden table": 0.6},
    )
    img = Image.new("RGB", (1600, 1200), (120, 80, 40))
    perc = _perceiver(vlm, max_pixels=640 * 480).perceive(img)
    assert [c.concept for c in perc.concepts] == ["cup", "saucer", "wooden table"]  # cleaned, deduplicated
    assert perc.caption == "A cup of coffee."
    cup = perc.concepts[0]
    assert cup.scores == [0.97] * len(TEMPLATES) and cup.origin == "vlm" and cup.score == pytest.approx(0.97)
    # One proposal call carrying the image, then |concepts| × |templates| yes/no calls, each with the image.
    ((messages, schema),) = vlm.json_calls
    assert messages[0].images and messages[0].images[0].max_pixels == 640 * 480
    assert "objects" in schema["properties"] and "JSON" in messages[0].content
    assert len(vlm.yes_calls) == 3 * len(TEMPLATES)
    prompts = [p for p, _ in vlm.yes_calls]
    assert prompts[: len(TEMPLATES)] == [t.format(c="cup") for t in TEMPLATES]
    assert all(len(imgs) == 1 and imgs[0].image.size == img.size for _, imgs in vlm.yes_calls)
    assert perc.meta["model_calls"] == 1 + 3 * len(TEMPLATES)
    assert perc.text == "" and not vlm.text_calls  # OCR by the VLM is off by default


def test_max_proposals_and_extra_concepts(scripted_vlm) -> None:
    vlm = scripted_vlm({"objects": [f"thing {i}" for i in range(10)]}, yes={"dog": 0.9})
    perc = _perceiver(vlm, max_proposals=3).perceive(
        Image.new("RGB", (64, 64)), extra_concepts=["Dog", "thing 0"]
    )
    assert [c.concept for c in perc.concepts] == ["thing 0", "thing 1", "thing 2", "dog"]
    assert perc.concepts[-1].scores == [0.9] * len(TEMPLATES)
    assert "up to 3" in vlm.json_calls[0][0][0].content


def test_unparseable_proposal_yields_only_extra_concepts(scripted_vlm) -> None:
    vlm = scripted_vlm(JSONExtractionError("no json"), yes={"cat": 0.7})
    perc = _perceiver(vlm).perceive(Image.new("RGB", (32, 32)), extra_concepts=["cat"])
    assert [c.concept for c in perc.concepts] == ["cat"]


def test_read_text_option(scripted_vlm) -> None:
    vlm = scripted_vlm({"objects": []}, yes={}, text="EXIT\nPlatform 3")
    perc = _perceiver(vlm, read_text=True).perceive(Image.new("RGB", (32, 32)), kind="page")
    assert perc.text == "EXIT\nPlatform 3" and len(vlm.text_calls) == 1
    assert "document page" in vlm.json_calls[0][0][0].content
    vlm_none = scripted_vlm({"objects": []}, yes={}, text="NONE.")
    assert _perceiver(vlm_none, read_text=True).perceive(Image.new("RGB", (32, 32))).text == ""


def test_bad_probability_is_an_error(scripted_vlm) -> None:
    vlm = scripted_vlm({"objects": ["cup"]}, yes={"cup": 1.5})
    with pytest.raises(VimragError, match="P\\(Yes\\)=1.5"):
        _perceiver(vlm).perceive(Image.new("RGB", (8, 8)))


def test_text_only_model_and_bad_templates_are_rejected(scripted_vlm) -> None:
    text_only = scripted_vlm({}, yes={}, supports_images=False)
    with pytest.raises(ConfigError, match="image input"):
        _perceiver(text_only)
    with pytest.raises(ConfigError, match="placeholder"):
        VLMPerceiverOptions(templates=("Is it there?",))
    with pytest.raises(VimragError):
        _perceiver(scripted_vlm({}, yes={})).perceive(Image.new("RGB", (0, 0)))


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ([" The Red Car ", "tree", ""], ["red car", "tree"]),
        ({"concepts": "dog, two cats"}, ["dog", "cats"]),
        ({"objects": [{"name": "lamp"}, 3, "a very long name with far too many words in it"]}, ["lamp"]),
        ("not json", []),
    ],
)
def test_proposals_from_json_is_lenient(obj, expected) -> None:
    assert proposals_from_json(obj, 10)[0] == expected


def test_clean_concept() -> None:
    assert clean_concept("An Apple.") == "apple" and clean_concept(None) == ""


def test_factory_uses_config(scripted_vlm) -> None:
    cfg = Config().with_overrides({"models.perceiver": "vlm", "polar.max_proposals": 5})
    p = make_perceiver(cfg, scripted_vlm({}, yes={}))
    assert isinstance(p, VLMPerceiver) and p.options.max_proposals == 5 and p.options.templates == TEMPLATES
    with pytest.raises(ConfigError, match="models.vlm"):
        make_perceiver(cfg)
    with pytest.raises(ConfigError, match="unknown perceiver"):
        make_perceiver(Config().with_overrides({"models.perceiver": "magic"}))
