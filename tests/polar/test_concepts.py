from __future__ import annotations

import numpy as np
import pytest

from vimrag.polar.concepts import ConceptMatcher, normalize_concept


@pytest.mark.parametrize(
    ("raw", "want"),
    [("Dogs", "dog"), ("  the  DOG ", "dog"), ("wine glasses", "wine glass"), ("buses", "bus"),
     ("Traffic-Lights", "traffic light"), ("boxes", "box"), ("knives", "knife"), ("people", "person"),
     ("cherries", "cherry"), ("shoes", "shoe"), ("an apple", "apple"), ("sports_balls", "sports ball"),
     ("glass", "glass"), ("sunglasses", "sunglasses"), ("scissors", "scissors"), ("children", "child"),
     ("horses", "horse"), ("", ""), ("the", "")],
)
def test_normalize_concept(raw: str, want: str) -> None:
    assert normalize_concept(raw) == want


class _TableEmbedder:
    """Embeds from a fixed table: stands in for a sentence embedder in the fast tests (the real one is slow)."""

    name, dim = "table", 3
    table = {"dog": [1, 0, 0], "beagle": [0.95, 0.31, 0], "cup": [0, 1, 0], "beaker": [0.1, 0.99, 0],
             "car": [0, 0, 1], "banana": [0.5, 0.5, 0.7]}

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return np.array([self.table.get(t, [0.3, 0.3, 0.3]) for t in texts], dtype=np.float32)


def test_matcher_exact_then_embedding_and_caches_vocabulary() -> None:
    emb = _TableEmbedder()
    m = ConceptMatcher(["dog", "cup", "car"], emb, threshold=0.9)
    assert m.match("Dogs") == [("dog", 1.0)]
    assert emb.calls == 0  # exact matches need no embedding
    assert [c for c, _ in m.match("beagle")] == ["dog"]  # words outside SYNONYMS: by the embedding
    assert [c for c, _ in m.match("beaker")] == ["cup"]
    assert m.match("banana") == []
    calls = emb.calls
    m.match("beagle")
    assert emb.calls == calls + 1  # vocabulary embedded once; only the query concept is embedded again
    m.update(["dog", "banana"])
    assert m.match("banana") == [("banana", 1.0)]


@pytest.mark.slow
def test_matcher_with_real_embedder() -> None:
    from vimrag.config import ModelsConfig
    from vimrag.models.factory import make_embedder

    try:
        emb = make_embedder(ModelsConfig().embedder, ModelsConfig())
    except Exception as exc:  # noqa: BLE001 - the model may not be installed on this machine
        pytest.skip(f"embedder unavailable: {exc}")
    m = ConceptMatcher(["dog", "cup", "car", "person", "dining table", "bicycle"], emb, threshold=0.6)
    assert "dog" in [c for c, _ in m.match("puppy")]
    assert "cup" in [c for c, _ in m.match("mug")]
    assert "car" not in [c for c, _ in m.match("puppy")]


@pytest.mark.parametrize(("word", "want"), [
    ("puppies", "dog"), ("people", "person"), ("kids", "person"), ("mug", "cup"), ("motorbike", "motorcycle"),
    ("television", "tv"), ("sofa", "couch"), ("bar chart", "figure"), ("fridge", "refrigerator"),
])
def test_everyday_words_reach_the_closed_vocabulary_without_an_embedder(word: str, want: str) -> None:
    m = ConceptMatcher(["dog", "person", "cup", "motorcycle", "tv", "couch", "figure", "refrigerator", "table"], None)
    assert m.match(word) == [(want, 1.0)]


def test_a_word_that_is_itself_a_memory_concept_keeps_it_and_also_reaches_its_synonym() -> None:
    m = ConceptMatcher(["table", "dining table", "plant", "potted plant", "television", "tv"], None)
    assert m.match("table") == [("table", 1.0)]  # no synonym: only itself
    assert m.match("plant") == [("plant", 1.0), ("potted plant", 1.0)]
    # the classifier's ImageNet "television" and the detector's COCO "tv": a photo with either is wanted
    assert m.match("televisions") == [("television", 1.0), ("tv", 1.0)]
    assert ConceptMatcher(["dog"], None).match("sofa") == []  # its synonym is not in memory: nothing


@pytest.mark.parametrize(("word", "want"), [
    ("vehicles", ["car", "truck", "bus", "motorcycle"]), ("cutlery", ["fork", "knife", "spoon"]),
    ("pets", ["dog", "cat"]), ("riders", ["person"]), ("taxis", ["car"]),
])
def test_category_words_reach_every_member_in_memory(word: str, want: list[str]) -> None:
    vocab = ["car", "truck", "bus", "motorcycle", "fork", "knife", "spoon", "dog", "cat", "person", "bicycle"]
    assert [c for c, _ in ConceptMatcher(vocab, None).match(word)] == want
    assert [c for c, _ in ConceptMatcher(["bus", "dog"], None).match("vehicle")] == ["bus"]  # members in memory only
