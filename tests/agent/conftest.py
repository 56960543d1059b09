"""Test doubles for the agent: a scripted policy and an in-memory retriever over a few real items.

The scripted model stands in for an LLM (CI cannot run one); the retriever stands in for ``vimrag.Memory``
so the agent's tests do not depend on ingest and the store. Both follow the real protocols.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from tests.doubles import BagEmbedder, ScriptedLLM
from vimrag.config import Config
from vimrag.types import (
    ConceptEvidence,
    Item,
    Locator,
    LogicState,
    Modality,
    Polarity,
    SearchHit,
    SearchResult,
)


class FakeRetriever:
    """Ranks items by word overlap with the query; images carry a real PNG under ``root``."""

    def __init__(self, items: list[Item], root: Path) -> None:
        self.items = items
        self.root = root
        self.queries: list[str] = []

    def search(self, query: str, k: int) -> SearchResult:
        self.queries.append(query)
        q = set(re.findall(r"[a-z0-9]+", query.lower()))
        scored = []
        for it in self.items:
            words = set(re.findall(r"[a-z0-9]+", (it.text + " " + " ".join(it.has)).lower()))
            overlap = len(q & words) / (len(q) or 1)
            if overlap > 0:
                state = LogicState.VERIFIED if set(it.has) & q else LogicState.UNCERTAIN
                scored.append(SearchHit(it, state, overlap))
        scored.sort(key=lambda h: (-int(h.state), -h.similarity, h.item.id))
        return SearchResult(query, sorted(q), [], scored[:k])

    def load_image(self, item: Item) -> Image.Image | None:
        if not item.media:
            return None
        return Image.open(self.root / item.media)


@pytest.fixture
def corpus(tmp_path: Path) -> FakeRetriever:
    media = tmp_path / "media"
    media.mkdir()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(media / "coffee.png")
    Image.new("RGB", (64, 36), (20, 20, 120)).save(media / "clip_kf.png")
    items = [
        Item("t1", "docs/jaws.txt", "h1", Modality.TEXT, Locator(chunk=0),
             text="Jaws is a 1975 film directed by Steven Spielberg."),
        Item("t2", "docs/spielberg.txt", "h2", Modality.TEXT, Locator(chunk=3),
             text="Steven Spielberg was born in Cincinnati, Ohio, United States."),
        Item("t3", "docs/sharks.txt", "h3", Modality.TEXT, Locator(chunk=1),
             text="Great white sharks live in all major oceans."),
        Item("i1", "photos/coffee.png", "h4", Modality.IMAGE, Locator(box=(0, 0, 64, 48)), text="CAFE",
             concepts=[ConceptEvidence("cup", Polarity.HAS, 0.93), ConceptEvidence("dining table", Polarity.HAS, 0.8),
                       ConceptEvidence("person", Polarity.NOT_HAS, 0.05)],
             media="media/coffee.png"),
        Item("v1", "videos/clip.mp4", "h5", Modality.VIDEO, Locator(start=10.0, end=20.0, keyframes=(12.0, 17.5)),
             text="the barista pours a cup of coffee", media="media/clip_kf.png",
             concepts=[ConceptEvidence("cup", Polarity.HAS, 0.7)]),
    ]
    return FakeRetriever(items, tmp_path)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # scripted policies below write every search themselves (agent.question_first off); the question-first
    # start is tested on its own (test_loop.py)
    return Config().with_overrides({"agent.trajectories_dir": str(tmp_path / "traj"), "agent.max_steps": 5,
                                    "agent.question_first": False})


@pytest.fixture
def bag_embedder() -> BagEmbedder:
    return BagEmbedder(stopwords={"the", "of", "a", "is", "who", "what"})


@pytest.fixture
def scripted() -> type[ScriptedLLM]:
    return ScriptedLLM
