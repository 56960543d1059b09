"""Test doubles shared by the test packages (one copy each): stand-ins for parts CI cannot run.

``ScriptedLLM`` stands in for a language model (no model server in CI for most tests); ``BagEmbedder``
for MiniLM where loading it would make a fast test slow. Both follow the real protocols
(``vimrag.models.base``).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from vimrag.models.base import Completion, ImageInput, Message

Script = list[Any] | Callable[[list[Message]], Any]


class ScriptedLLM:
    """Replies from a script (a list consumed in order, or a function of the messages).

    Token counts are whitespace words, so tests can check the agent's accounting exactly.
    """

    name = "scripted"

    def __init__(self, script: Script, supports_images: bool = False) -> None:
        self.script = script
        self.supports_images = supports_images
        self.calls: list[list[Message]] = []
        self.biases: list[dict[str, float] | None] = []  # each generate call's logit_bias

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, messages, *, max_tokens=256, temperature=0.0, stop=None, seed=None, logit_bias=None) -> Completion:
        self.calls.append(list(messages))
        self.biases.append(logit_bias)
        if callable(self.script):
            text = self.script(messages)
        else:
            if not self.script:
                raise AssertionError("scripted model ran out of replies")
            text = self.script.pop(0)
        prompt = sum(self.count_tokens(m.content) for m in messages)
        return Completion(text, prompt_tokens=prompt, completion_tokens=self.count_tokens(text))

    def generate_json(self, messages, schema=None, *, max_tokens=256) -> tuple[Any, Completion]:
        """The script's next reply as the parsed object (an exception in the script is raised)."""
        self.calls.append(list(messages))
        reply: Any = self.script(messages) if callable(self.script) else self.script.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply, Completion(text=str(reply))

    def yes_probability(self, prompt: str, images: list[ImageInput] | None = None) -> float:
        return 0.5




class BagEmbedder:
    """Deterministic bag-of-words embedder (a stand-in for MiniLM); ``stopwords`` are not counted."""

    name = "bag"
    dim = 64

    def __init__(self, stopwords: Iterable[str] = ()) -> None:
        self.stopwords = frozenset(stopwords)
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z0-9]+", t.lower()):
                if w not in self.stopwords:
                    out[i, zlib.crc32(w.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)
