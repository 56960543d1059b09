"""The paper's perceiver (``models.perceiver = "vlm"``): a VLM proposes concepts, then verifies each.

PolarMem §3.2, faithfully: (1) **proposal** — the VLM lists the objects and visual attributes it sees,
as JSON, at most ``PolarConfig.max_proposals``; (2) **verification** — each concept c is asked about with
every yes/no template T of ``PolarConfig.templates`` and the scores are P("Yes" | image, T(c)) read from
the model's logprobs (``LanguageModel.yes_probability``). ``ConceptScore.scores`` holds one P(Yes) per
template and its mean is s_c of Eq. 4. The partition (Eq. 5–6) runs downstream, shared with the local
perceiver.

Works with any :class:`~vimrag.models.base.LanguageModel` whose ``supports_images`` is true (an
OpenAI-compatible server: vLLM, Ollama, llama.cpp server, OpenAI). Cost per image: 1 proposal call
(+1 optional OCR call) + |concepts| × |templates| one-token calls.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from vimrag.errors import ConfigError, VimragError
from vimrag.models.base import ConceptScore, ImageInput, LanguageModel, Message, Perception
from vimrag.models.jsonparse import JSONExtractionError
from vimrag.models.perceivers.base import to_rgb

PROPOSAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "objects": {"type": "array", "items": {"type": "string"}},
        "attributes": {"type": "array", "items": {"type": "string"}},
        "caption": {"type": "string"},
    },
    "required": ["objects"],
}

PROPOSAL_PROMPT = (
    "List what is visible in this {kind}. Return JSON with keys: "
    '"objects" (up to {n} short names of distinct objects, people, animals or document elements such as '
    "table or chart, singular, most salient first), "
    '"attributes" (a few short visual attributes or scene words, e.g. "outdoor", "red car", "night"), '
    'and "caption" (one sentence). Use lower case. Do not list things that are not visible.'
)

TEXT_PROMPT = (
    "Transcribe all legible text in this image, in reading order, one line per line of text. "
    "If there is no legible text, answer NONE."
)

_ARTICLE = re.compile(r"^(a|an|the|some|two|three|several|many)\s+")
_KIND_WORDS = {"photo": "image", "frame": "video frame", "page": "document page", "figure": "figure or chart"}


@dataclass(frozen=True)
class VLMPerceiverOptions:
    templates: tuple[str, ...]  # PolarConfig.templates: the yes/no ensemble of Eq. 4, each with "{c}"
    max_proposals: int = 24  # PolarConfig.max_proposals
    max_pixels: int | None = 768 * 768  # image size sent to the server (the VLM resizes further itself)
    read_text: bool = False  # one extra call asking the VLM to transcribe visible text
    proposal_max_tokens: int = 384
    text_max_tokens: int = 512

    def __post_init__(self) -> None:
        if not self.templates:
            raise ConfigError("polar.templates must hold at least one yes/no template")
        bad = [t for t in self.templates if "{c}" not in t]
        if bad:
            raise ConfigError(f"every verification template needs a {{c}} placeholder; these lack one: {bad}")
        if self.max_proposals < 1:
            raise ConfigError("polar.max_proposals must be ≥ 1")


def clean_concept(name: Any) -> str:
    """Light normalization of a proposed name: lower case, no article, single spaces, ≤ 5 words."""
    if not isinstance(name, str):
        return ""
    s = re.sub(r"[\s_]+", " ", name.strip().lower()).strip(" .,;:!?\"'")
    s = _ARTICLE.sub("", s)
    if not s or len(s.split()) > 5 or len(s) > 60:
        return ""
    return s


def proposals_from_json(obj: Any, limit: int) -> tuple[list[str], str]:
    """(concepts, caption) from the proposal JSON; tolerates a bare list or other key names."""
    names: list[Any] = []
    caption = ""
    if isinstance(obj, dict):
        for key in ("objects", "concepts", "entities", "attributes"):
            val = obj.get(key)
            if isinstance(val, list):
                names += val
            elif isinstance(val, str):
                names += val.split(",")
        cap = obj.get("caption")
        caption = cap.strip() if isinstance(cap, str) else ""
    elif isinstance(obj, list):
        names = list(obj)
    out: list[str] = []
    for n in names:
        if isinstance(n, dict):  # {"name": ..., ...}
            n = n.get("name") or n.get("object") or ""
        c = clean_concept(n)
        if c and c not in out:
            out.append(c)
        if len(out) >= limit:
            break
    return out, caption


class VLMPerceiver:
    """Open-set perceiver over a VLM; ``verify`` is public so new concepts (e.g. a query's) can be checked
    later against a stored image without re-proposing."""

    name = "vlm"

    def __init__(self, model: LanguageModel, options: VLMPerceiverOptions) -> None:
        if not getattr(model, "supports_images", False):
            raise ConfigError(
                f"the vlm perceiver needs a model with image input; {getattr(model, 'name', model)!r} has none. "
                "Set models.vlm to an OpenAI-compatible VLM server, e.g. "
                "openai:http://localhost:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct"
            )
        self.model = model
        self.options = options
        self.calls = 0

    @classmethod
    def from_config(cls, model: LanguageModel, config: Any) -> VLMPerceiver:
        p = config.polar
        return cls(
            model, VLMPerceiverOptions(templates=tuple(p.templates), max_proposals=int(p.max_proposals))
        )

    def _image(self, image: Image.Image) -> ImageInput:
        return ImageInput(to_rgb(image), max_pixels=self.options.max_pixels)

    def propose(self, image: Image.Image, kind: str = "photo") -> tuple[list[str], str]:
        """Ask the VLM for up to ``max_proposals`` concepts; returns (concepts, caption)."""
        prompt = PROPOSAL_PROMPT.format(kind=_KIND_WORDS.get(kind, "image"), n=self.options.max_proposals)
        msg = Message("user", prompt, [self._image(image)])
        self.calls += 1
        try:
            obj, _ = self.model.generate_json(
                [msg], PROPOSAL_SCHEMA, max_tokens=self.options.proposal_max_tokens
            )
        except JSONExtractionError:
            return [], ""
        return proposals_from_json(obj, self.options.max_proposals)

    def verify(self, image: Image.Image, concepts: Iterable[str]) -> list[ConceptScore]:
        """Eq. 4's ensemble: one P(Yes) per template for each concept."""
        img = [self._image(image)]
        out: list[ConceptScore] = []
        for c in concepts:
            scores = []
            for t in self.options.templates:
                self.calls += 1
                p = float(self.model.yes_probability(t.format(c=c), img))
                if not 0.0 <= p <= 1.0:
                    raise VimragError(
                        f"{self.model.name} returned P(Yes)={p} for {c!r}; expected a probability"
                    )
                scores.append(p)
            out.append(ConceptScore(c, scores, None, "vlm"))
        return out

    def read_text(self, image: Image.Image) -> str:
        self.calls += 1
        comp = self.model.generate(
            [Message("user", TEXT_PROMPT, [self._image(image)])], max_tokens=self.options.text_max_tokens
        )
        text = comp.text.strip()
        return "" if text.upper().rstrip(".") == "NONE" else text

    def perceive(
        self, image: Image.Image, kind: str = "photo", extra_concepts: Sequence[str] = ()
    ) -> Perception:
        """Propose, then verify the proposals plus ``extra_concepts`` (deduplicated)."""
        if not isinstance(image, Image.Image) or image.width < 1 or image.height < 1:
            raise VimragError("perceive() needs a non-empty PIL image")
        t0, calls0 = time.perf_counter(), self.calls
        proposed, caption = self.propose(image, kind)
        concepts = list(proposed)
        for c in extra_concepts:
            cc = clean_concept(c)
            if cc and cc not in concepts:
                concepts.append(cc)
        scored = self.verify(image, concepts)
        text = self.read_text(image) if self.options.read_text else ""
        meta = {
            "perceiver": self.name,
            "model": getattr(self.model, "name", ""),
            "kind": kind,
            "templates": len(self.options.templates),
            "model_calls": self.calls - calls0,
            "seconds": round(time.perf_counter() - t0, 4),
        }
        return Perception(concepts=scored, text=text, caption=caption, meta=meta)
