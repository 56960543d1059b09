from __future__ import annotations

import pytest
from PIL import Image

from tests.doubles import BagEmbedder
from vimrag.models.base import ConceptScore, Perception


class ScriptedPerceiver:
    """A perceiver that answers from a table keyed by the image's colour (stands in for a VLM server)."""

    name = "scripted"

    def __init__(self, table: dict[tuple[int, int, int], dict[str, float]]) -> None:
        self.table = table
        self.verified: list[str] = []

    def _scores(self, image: Image.Image) -> dict[str, float]:
        return self.table[image.getpixel((0, 0))]

    def propose(self, image: Image.Image, kind: str = "photo") -> tuple[list[str], str]:
        return list(self._scores(image)), "a scripted caption"

    def verify(self, image: Image.Image, concepts: list[str]) -> list[ConceptScore]:
        self.verified += list(concepts)
        s = self._scores(image)
        return [ConceptScore(c, [s[c], s[c]], None, "scripted") for c in concepts]

    def perceive(self, image: Image.Image, kind: str = "photo") -> Perception:
        concepts, caption = self.propose(image, kind)
        return Perception(self.verify(image, concepts), "", caption)


RED, BLUE, GREEN = (200, 0, 0), (0, 0, 200), (0, 200, 0)
TABLE = {
    RED: {"cup": 0.95, "dining table": 0.9, "person": 0.03, "dog": 0.02, "bottle": 0.5},
    BLUE: {"cup": 0.92, "person": 0.97, "chair": 0.9, "dog": 0.04},
    GREEN: {"dog": 0.96, "frisbee": 0.9, "cup": 0.05, "person": 0.02},
}


@pytest.fixture
def bag_embedder() -> BagEmbedder:
    return BagEmbedder()


@pytest.fixture
def perceiver() -> ScriptedPerceiver:
    return ScriptedPerceiver(TABLE)


@pytest.fixture
def colors() -> tuple[tuple[int, int, int], ...]:
    return RED, BLUE, GREEN
