"""Fixtures for perceiver tests: real skimage photos, a rendered page with a table, a scripted VLM double.

The scripted VLM is the only test double here: no VLM runs offline (MODELS.md), so the ``vlm`` perceiver's
protocol — which prompts and images it sends, how it reads the answers — is checked against a script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from vimrag.models.base import Completion, ImageInput, Message


def _skimage(name: str) -> Image.Image:
    data = pytest.importorskip("skimage.data")
    return Image.fromarray(getattr(data, name)())


@pytest.fixture(scope="session")
def coffee() -> Image.Image:
    return _skimage("coffee")


@pytest.fixture(scope="session")
def astronaut() -> Image.Image:
    return _skimage("astronaut")


@pytest.fixture(scope="session")
def chelsea() -> Image.Image:
    return _skimage("chelsea")


@pytest.fixture(scope="session")
def table_page() -> Image.Image:
    """A letter-size page at ~100 dpi: a title, a paragraph, a ruled 6×4 table with numbers, a caption."""
    img = Image.new("RGB", (850, 1100), "white")
    d = ImageDraw.Draw(img)
    title, body = ImageFont.load_default(size=28), ImageFont.load_default(size=14)
    d.text((80, 60), "Quarterly Report 2024", fill="black", font=title)
    for i in range(10):
        d.text(
            (80, 130 + i * 20),
            "Revenue grew in every region while costs stayed flat over the year.",
            fill="black",
            font=body,
        )
    x0, y0 = 100, 420
    for r in range(6):
        for c in range(4):
            d.rectangle(
                (x0 + c * 160, y0 + r * 40, x0 + (c + 1) * 160, y0 + (r + 1) * 40), outline="black", width=2
            )
            label = f"Region {c}" if r == 0 else f"{(r * 4 + c) * 13.5:.1f}"
            d.text((x0 + c * 160 + 10, y0 + r * 40 + 12), label, fill="black", font=body)
    d.text((100, 680), "Table 1: Revenue by region (million EUR).", fill="black", font=body)
    return img


@pytest.fixture(scope="session")
def text_page() -> Image.Image:
    """A page of plain paragraphs and no table."""
    img = Image.new("RGB", (850, 1100), "white")
    d = ImageDraw.Draw(img)
    body = ImageFont.load_default(size=16)
    for i in range(30):
        d.text(
            (80, 80 + i * 26),
            "The committee met on Tuesday and discussed the annual budget in detail.",
            fill="black",
            font=body,
        )
    return img


@dataclass
class ScriptedVLM:
    """A LanguageModel double: answers proposals from ``proposal`` and P(Yes) from ``yes[concept]``.

    It records every call (prompt text and images) so tests can check what the perceiver sends.
    """

    proposal: Any
    yes: dict[str, float]
    text: str = "NONE"
    name: str = "scripted-vlm"
    supports_images: bool = True
    json_calls: list[tuple[list[Message], dict[str, Any] | None]] = field(default_factory=list)
    yes_calls: list[tuple[str, list[ImageInput]]] = field(default_factory=list)
    text_calls: list[list[Message]] = field(default_factory=list)

    def generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        seed: int | None = None,
        logit_bias: dict[str, float] | None = None,
    ) -> Completion:
        self.text_calls.append(messages)
        return Completion(self.text)

    def generate_json(
        self, messages: list[Message], schema: dict[str, Any] | None = None, *, max_tokens: int = 256
    ) -> tuple[Any, Completion]:
        self.json_calls.append((messages, schema))
        if isinstance(self.proposal, Exception):
            raise self.proposal
        return self.proposal, Completion(str(self.proposal))

    def yes_probability(self, prompt: str, images: list[ImageInput] | None = None) -> float:
        self.yes_calls.append((prompt, list(images or [])))
        for concept, p in self.yes.items():
            if re.search(rf"\b{re.escape(concept)}\b", prompt):
                return p
        return 0.01

    def count_tokens(self, text: str) -> int:
        return len(text.split())


@pytest.fixture
def scripted_vlm() -> type[ScriptedVLM]:
    return ScriptedVLM
