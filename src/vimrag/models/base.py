"""Model interfaces. Callers depend on these protocols, never on a backend class.

Backends are chosen by a short string in config (``"llamacpp:qwen2.5-coder-0.5b"``,
``"openai:http://localhost:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct"``) and built by ``vimrag.models.factory``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image


@dataclass
class ImageInput:
    """An image sent to a model, with the pixel budget the visual-memory allocation granted it.

    ``max_pixels=None`` sends the image as it is; otherwise the backend downsizes it (keeping the aspect
    ratio) so that width×height ≤ max_pixels — this is how VimRAG's token allocation reaches a VLM.
    """

    image: Image.Image
    max_pixels: int | None = None
    label: str = ""


@dataclass
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str
    images: list[ImageInput] = field(default_factory=list)


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def cached_tokens(self) -> int:
        """Prompt tokens the model re-used from its KV cache instead of evaluating them: llama.cpp's
        ``timings.cache_n``, or an OpenAI-style ``usage.prompt_tokens_details.cached_tokens`` (vLLM with
        prefix caching); 0 when the server does not say."""
        timings = self.raw.get("timings")
        if isinstance(timings, dict) and isinstance(timings.get("cache_n"), int | float):
            return int(timings["cache_n"])
        usage = self.raw.get("usage")
        details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        return int(cached) if isinstance(cached, int | float) else 0

    def phases(self) -> dict[str, float]:
        """Prefill (prompt tokens evaluated) and decode (tokens generated) counts and seconds, from
        llama.cpp's ``timings``; empty when the server does not report them."""
        t = self.raw.get("timings")
        if not isinstance(t, dict):
            return {}
        try:
            return {"prefill_tokens": int(t["prompt_n"]), "prefill_s": round(float(t["prompt_ms"]) / 1000, 4),
                    "decode_tokens": int(t["predicted_n"]), "decode_s": round(float(t["predicted_ms"]) / 1000, 4)}
        except (KeyError, TypeError, ValueError):
            return {}


@runtime_checkable
class TextEmbedder(Protocol):
    """Maps texts to L2-normalized float32 vectors (n, dim)."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


@runtime_checkable
class LanguageModel(Protocol):
    """A chat model, optionally with image input (a VLM).

    ``yes_probability`` returns P("Yes") normalized over the Yes/No answer tokens, read from the model's
    logits (llama.cpp) or ``top_logprobs`` (OpenAI-compatible servers): PolarMem's verification score.

    ``generate``'s ``logit_bias`` maps a text to a bias added to the logit of its (first) token at every
    position, e.g. ``{"answer": 0.5}``: the agent's ``agent.answer_bias``. A backend that cannot tell the
    text's token (an OpenAI-compatible server without a ``/tokenize`` route) does not send it.
    """

    name: str
    supports_images: bool

    def generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        seed: int | None = None,
        logit_bias: dict[str, float] | None = None,
    ) -> Completion: ...

    def generate_json(
        self,
        messages: list[Message],
        schema: dict[str, Any] | None = None,
        *,
        max_tokens: int = 256,
    ) -> tuple[Any, Completion]: ...

    def yes_probability(self, prompt: str, images: list[ImageInput] | None = None) -> float: ...

    def count_tokens(self, text: str) -> int: ...


@dataclass
class ConceptScore:
    """A proposed concept and its verification scores (one per yes/no template or augmentation)."""

    concept: str
    scores: list[float]
    box: tuple[float, float, float, float] | None = None
    origin: str = ""
    # Scores of views that may only refute absence (``polar.absence_views``): not part of Eq. 4's mean, read
    # by the partition's "unanimous" absence rule alone.
    veto: list[float] = field(default_factory=list)

    @property
    def score(self) -> float:
        """s_c of PolarMem Eq. 4: the mean over the ensemble."""
        return float(np.mean(self.scores)) if self.scores else 0.0


@dataclass
class Perception:
    """What a perceiver saw in one image: scored concepts (before partition), and any text it read."""

    concepts: list[ConceptScore]
    text: str = ""  # OCR text, if any
    caption: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Perceiver(Protocol):
    """Proposes and verifies concepts for an image (PolarMem §3.2). ``kind`` hints the image: photo/page/frame."""

    name: str

    def perceive(self, image: Image.Image, kind: str = "photo") -> Perception: ...
