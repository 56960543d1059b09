"""Embedded LLM backend on llama.cpp (``llamacpp:NAME_OR_PATH``): the offline default policy model.

Spec argument: a registry name (``qwen2.5-coder-1.5b``, ``qwen2.5-coder-0.5b``, ``smollm2-135m``), whose
weights are assembled and sha256-checked by :mod:`vimrag.models.registry`, or a path to any GGUF file.

P(Yes) (PolarMem Eq. 4's per-template term) is read directly from the logits of the last prompt position
after one forward pass, softmax-restricted to the answer tokens. We never set ``logits_all``: it keeps a
vocabulary-sized row per prompt token and slows every call, while only the last row is needed.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from vimrag._extras import require
from vimrag.config import ModelsConfig
from vimrag.errors import ModelUnavailableError, VimragError
from vimrag.models.base import Completion, ImageInput, Message
from vimrag.models.jsonparse import parse_json_loose
from vimrag.models.registry import resolve_model_file

YES_STRINGS = ("Yes", "yes", "YES", " Yes", " yes", " YES")
NO_STRINGS = ("No", "no", "NO", " No", " no", " NO")


class ContextOverflowError(VimragError, ValueError):
    """A prompt does not fit the model's context window (``models.n_ctx``)."""


def _image_text(images: list[ImageInput]) -> str:
    labels = [im.label.strip() or "an image without description" for im in images]
    return "\n".join(f"[image: {lab}]" for lab in labels)


def _flatten(messages: list[Message]) -> list[dict[str, str]]:
    """Chat messages for a text model: each image becomes a ``[image: label]`` line before the text."""
    out = []
    for m in messages:
        content = m.content
        if m.images:
            content = f"{_image_text(m.images)}\n{content}"
        out.append({"role": m.role, "content": content})
    return out


class LlamaCppLLM:
    """A GGUF chat model run in-process by llama-cpp-python.

    It is a *text* model (``supports_images = False``): images reach it only as their ``ImageInput.label``
    text (``[image: label]`` lines), which is how the offline default sees the closed-set perceivers'
    output. For real visual verification point ``models.vlm`` at an OpenAI-compatible VLM server.

    Not thread-safe internally; calls are serialised by a lock.

    >>> llm = LlamaCppLLM("qwen2.5-coder-0.5b")  # doctest: +SKIP
    >>> llm.yes_probability("Is Paris the capital of France? Answer Yes or No.") > 0.5  # doctest: +SKIP
    True
    """

    supports_images = False

    def __init__(self, model: str, cfg: ModelsConfig | None = None) -> None:
        cfg = cfg or ModelsConfig()
        path: Path = resolve_model_file(model)
        if not path.is_file():
            raise ModelUnavailableError(f"llama.cpp needs a GGUF file, got the folder {path}")
        llama_cpp = require("llama_cpp", "local", "llama-cpp-python")
        n_threads = cfg.n_threads if cfg.n_threads > 0 else (os.cpu_count() or 1)
        try:
            self._llm: Any = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=cfg.n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                seed=cfg.seed,
                verbose=False,
                logits_all=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelUnavailableError(
                f"llama.cpp could not load {path} ({exc}). Is it a GGUF file this llama-cpp-python "
                f"version supports, and is there enough memory for n_ctx={cfg.n_ctx}?"
            ) from exc
        self.name = f"llamacpp:{model}"
        self.path = path
        self.n_ctx = cfg.n_ctx
        self._seed = cfg.seed
        self._lock = threading.RLock()
        self._formatter = self._make_formatter(llama_cpp)
        self._yes_ids, self._no_ids = self._answer_ids()
        # Free the model at close() or, at the latest, at interpreter exit while llama_cpp is still
        # importable: left to Llama.__del__ during shutdown it raised "TypeError: 'NoneType' object is not
        # callable" (printed as an ignored exception after every CLI run).
        self._finalizer = weakref.finalize(self, self._llm.close)

    def close(self) -> None:
        """Free the model's memory now (idempotent); later calls raise instead of touching freed memory."""
        self._finalizer()

    def _check_open(self) -> None:
        if not self._finalizer.alive:
            raise VimragError(f"{self.name} was closed; load the model again to use it")

    # ------------------------------------------------------------------ setup

    def _make_formatter(self, llama_cpp: Any) -> Any:
        """The model's own chat template (GGUF metadata), the same one ``create_chat_completion`` uses."""
        fmt = require("llama_cpp.llama_chat_format", "local", "llama-cpp-python")
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return fmt.format_chatml  # deviation: models without a template get ChatML
        eos_id, bos_id = self._llm.token_eos(), self._llm.token_bos()
        eos = self._llm._model.token_get_text(eos_id) if eos_id != -1 else ""
        bos = self._llm._model.token_get_text(bos_id) if bos_id != -1 else ""
        return fmt.Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id]
        )

    def _single_token_ids(self, strings: tuple[str, ...]) -> list[int]:
        ids: list[int] = []
        for s in strings:
            toks = self._llm.tokenize(s.encode("utf-8"), add_bos=False, special=False)
            if len(toks) == 1 and toks[0] not in ids:
                ids.append(int(toks[0]))
        return ids

    def _answer_ids(self) -> tuple[list[int], list[int]]:
        yes, no = self._single_token_ids(YES_STRINGS), self._single_token_ids(NO_STRINGS)
        if not yes or not no:
            raise ModelUnavailableError(f"{self.name}: its vocabulary has no single-token 'Yes'/'No'")
        return yes, no

    # ------------------------------------------------------------------ protocol

    def generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Completion:
        return self._chat(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)

    def generate_json(
        self,
        messages: list[Message],
        schema: dict[str, Any] | None = None,
        *,
        max_tokens: int = 256,
    ) -> tuple[Any, Completion]:
        """Grammar-constrained JSON: the schema (or any JSON, without one) is compiled to a GBNF grammar.

        llama-cpp-python falls back to a generic JSON grammar when a schema cannot be compiled. The text is
        still parsed leniently (``parse_json_loose``) since ``max_tokens`` can cut an object short, which
        raises ``JSONExtractionError``.
        """
        fmt: dict[str, Any] = {"type": "json_object"}
        if schema:
            fmt["schema"] = schema
        comp = self._chat(messages, max_tokens=max_tokens, temperature=0.0, stop=None, response_format=fmt)
        return parse_json_loose(comp.text), comp

    def yes_probability(self, prompt: str, images: list[ImageInput] | None = None) -> float:
        """P("Yes") at the first answer position, normalized over the Yes/No token ids.

        ``prompt`` becomes one user turn in the model's chat template (images as ``[image: label]`` lines),
        the generation prompt is appended, one forward pass is run (re-using the KV cache for a shared
        prefix, e.g. the same image across PolarMem's template ensemble), and
        P = Σ_yes e^{l_i} / (Σ_yes e^{l_i} + Σ_no e^{l_j}) over the last-position logits l.
        """
        msgs = _flatten([Message("user", prompt, list(images or []))])
        rendered = self._formatter(messages=msgs)
        with self._lock:
            self._check_open()
            tokens = self._llm.tokenize(
                rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
            )
            if len(tokens) >= self.n_ctx:
                raise ContextOverflowError(
                    f"prompt has {len(tokens)} tokens but models.n_ctx is {self.n_ctx}; shorten it or raise n_ctx"
                )
            logits = self._last_logits(tokens)
        yes = logits[self._yes_ids].astype(np.float64)
        no = logits[self._no_ids].astype(np.float64)
        m = max(yes.max(), no.max())
        ey, en = np.exp(yes - m).sum(), np.exp(no - m).sum()
        return float(ey / (ey + en))

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        with self._lock:
            self._check_open()
            return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    # ------------------------------------------------------------------ internals

    def _last_logits(self, tokens: list[int]) -> np.ndarray:
        """Evaluate ``tokens`` (re-using the longest cached prefix) and copy the last position's logits."""
        llm = self._llm
        llama_cpp = require("llama_cpp", "local", "llama-cpp-python")
        prefix = 0
        if not (getattr(llm, "_is_recurrent", False) or getattr(llm, "_is_hybrid", False)):
            cached = llm._input_ids
            limit = min(len(cached), len(tokens) - 1)  # at least one token must be evaluated for fresh logits
            while prefix < limit and int(cached[prefix]) == tokens[prefix]:
                prefix += 1
        if prefix == 0:
            llm.reset()
        else:
            llm.n_tokens = prefix
        llm.eval(tokens[prefix:])
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()

    def _chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None,
        response_format: dict[str, Any] | None = None,
    ) -> Completion:
        msgs = _flatten(messages)
        t0 = time.perf_counter()
        with self._lock:
            self._check_open()
            try:
                out = self._llm.create_chat_completion(
                    messages=msgs,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=stop or None,
                    seed=self._seed,
                    response_format=response_format,
                )
            except ValueError as exc:
                if "context window" in str(exc) or "exceed" in str(exc):
                    raise ContextOverflowError(
                        f"{self.name}: {exc}; shorten the prompt or raise models.n_ctx"
                    ) from exc
                raise
        secs = time.perf_counter() - t0
        text = out["choices"][0]["message"].get("content") or ""
        usage = out.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=secs,
            raw={"finish_reason": out["choices"][0].get("finish_reason"), "model": self.name},
        )
