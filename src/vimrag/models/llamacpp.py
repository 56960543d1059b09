"""Embedded LLM backend on llama.cpp (``llamacpp:NAME_OR_PATH``): the offline default policy model.

Spec argument: a registry name (``qwen2.5-coder-1.5b``, ``qwen2.5-coder-0.5b``, ``smollm2-135m``), whose
weights are assembled and sha256-checked by :mod:`vimrag.models.registry`, or a path to any GGUF file.

Engine: `xllamacpp <https://github.com/xorbitsai/xllamacpp>`_ (MIT, by Xorbits), which links llama.cpp's
own server (``llama-server``) into Python and publishes prebuilt manylinux2014 wheels, so installing
takes seconds instead of the 6–16 min source build of llama-cpp-python (which has no binary wheel on
PyPI). What we use of it is llama.cpp's, not a wrapper's: the GGUF's Jinja chat template, JSON-schema →
GBNF grammar-constrained decoding, ``top_logprobs``, and the slots' prompt caches (the longest common
prefix with a slot's last prompt is kept in its KV cache, so the agent's append-only prompts and PolarMem's
template ensemble over one image are not evaluated again; with ``models.n_slots`` ≥ 2 the agent's decision
and memorize prompts each keep their own — on the demo's two-hop question 1,160 instead of 526 prompt
tokens re-used, the later steps' prefill 3.4 s instead of 10–17 s). Requests go to the server object in-process
(``handle_chat_completions``); its HTTP listener is bound to 127.0.0.1 behind a random API key and is
used only for ``/tokenize``. Why not llama-cpp-py-sync (CFFI, prebuilt): its "manylinux2014" wheels
need glibc 2.38 and do not load on Debian 12 (glibc 2.36), checked on 0.7769–0.11739.

P(Yes) (PolarMem Eq. 4's per-template term) is read from the first answer token's ``top_logprobs``
(k = 20, log-softmax over the whole vocabulary): P = Σ_yes p / (Σ_yes p + Σ_no p) over the Yes-like and
No-like tokens among them. Deviation from reading the two classes' full logits: a Yes/No variant outside
the top 20 (each < p_20) is left out of its sum; both absent falls back to the answer's text.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import httpx

from vimrag._extras import require
from vimrag.config import ModelsConfig
from vimrag.errors import ModelUnavailableError, VimragError
from vimrag.models.base import Completion, ImageInput, Message
from vimrag.models.jsonparse import parse_json_loose
from vimrag.models.openai_compat import completion_from_response, yes_probability_from_response
from vimrag.models.registry import resolve_model_file

#: How many of the first token's alternatives P(Yes) reads (the OpenAI API's maximum).
TOP_LOGPROBS = 20


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


def _server_params(xlc: Any, path: Path, cfg: ModelsConfig, api_key: str) -> Any:
    n_threads = cfg.n_threads if cfg.n_threads > 0 else (os.cpu_count() or 1)
    params = xlc.CommonParams()
    params.model.path = str(path)
    # Slots, each with its own KV cache of n_ctx tokens (llama.cpp splits n_ctx among them): a request goes
    # to the slot whose cached prompt it shares the longest prefix with (slot_prompt_similarity), so the
    # agent's decision prompts and its memorize prompts each keep re-using their own prefix.
    slots = max(1, int(cfg.n_slots))
    params.n_ctx = cfg.n_ctx * slots
    params.n_parallel = slots
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    params.sampling.seed = cfg.seed & 0xFFFFFFFF
    params.cache_prompt = True
    params.cache_ram_mib = 0  # no second, host-memory prompt cache: the slot's KV cache is the one we use
    params.ctx_shift = False  # an over-long prompt is an error, never silently cut
    params.warmup = False
    params.verbosity = -1  # the server's request log would flood the CLI
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.n_threads_http = 1
    params.api_keys = [api_key]
    return params


class LlamaCppLLM:
    """A GGUF chat model run in-process by llama.cpp (engine: xllamacpp; see the module docstring).

    It is a *text* model (``supports_images = False``): images reach it only as their ``ImageInput.label``
    text (``[image: label]`` lines), which is how the offline default sees the closed-set perceivers'
    output. For real visual verification point ``models.vlm`` at an OpenAI-compatible VLM server.

    Calls are serialised by a lock (one request at a time; ``models.n_slots`` prompt caches). ``Completion.raw["timings"]`` holds llama.cpp's per-call
    figures: ``cache_n`` prompt tokens re-used from the KV cache, ``prompt_n``/``prompt_ms`` evaluated,
    ``predicted_n``/``predicted_ms`` decoded.

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
        xlc = require("xllamacpp", "local", "xllamacpp")
        self._api_key = secrets.token_urlsafe(24)
        try:
            server = xlc.Server(_server_params(xlc, path, cfg, self._api_key))
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelUnavailableError(
                f"llama.cpp could not load {path} ({exc}). Is it a GGUF file this llama.cpp version "
                f"supports, and is there enough memory for n_ctx={cfg.n_ctx}?"
            ) from exc
        self.name = f"llamacpp:{model}"
        self.path = path
        self.n_ctx = cfg.n_ctx
        self._seed = cfg.seed
        self._lock = threading.RLock()
        # The server object is the only reference to the model: close() drops it (llama.cpp stops the
        # slot loop and frees the model); at the latest this runs at interpreter exit.
        self._box: list[Any] = [server]
        self._http = httpx.Client(
            base_url=str(server.listening_address),
            headers={"Authorization": f"Bearer {self._api_key}"},
            timeout=30.0,
        )
        self._finalizer = weakref.finalize(self, _close, self._box, self._http)

    def close(self) -> None:
        """Free the model's memory now (idempotent); later calls raise instead of touching freed memory."""
        self._finalizer()

    def _server(self) -> Any:
        if not self._box:
            raise VimragError(f"{self.name} was closed; load the model again to use it")
        return self._box[0]

    # ------------------------------------------------------------------ protocol

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
        seed = None if seed is None else int(seed) & 0xFFFFFFFF  # None: _chat keeps the configured models.seed
        bias = [[self._tokenize(text)[0], b] for text, b in (logit_bias or {}).items() if text and b]
        return self._chat(messages, max_tokens=max_tokens, temperature=temperature, stop=stop or None, seed=seed,
                          logit_bias=bias or None)

    def generate_json(
        self,
        messages: list[Message],
        schema: dict[str, Any] | None = None,
        *,
        max_tokens: int = 256,
    ) -> tuple[Any, Completion]:
        """Grammar-constrained JSON: llama.cpp compiles the schema (or any JSON, without one) to a GBNF
        grammar. The text is still parsed leniently (``parse_json_loose``) since ``max_tokens`` can cut an
        object short, which raises ``JSONExtractionError``."""
        fmt: dict[str, Any] = {"type": "json_object"}
        if schema:
            fmt["schema"] = schema
        comp = self._chat(messages, max_tokens=max_tokens, temperature=0.0, response_format=fmt)
        return parse_json_loose(comp.text), comp

    def yes_probability(self, prompt: str, images: list[ImageInput] | None = None) -> float:
        """P("Yes") at the first answer position, normalized over the Yes- and No-like tokens.

        ``prompt`` becomes one user turn in the model's chat template (images as ``[image: label]`` lines);
        one forward pass over what the KV cache does not already hold (e.g. the same image across
        PolarMem's template ensemble), one token decoded, its ``top_logprobs`` read.
        """
        comp = self._chat(
            [Message("user", prompt, list(images or []))],
            max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=TOP_LOGPROBS,
        )  # fmt: skip
        return yes_probability_from_response(comp.raw)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text)) if text else 0

    def _tokenize(self, text: str) -> list[int]:
        """The model's token ids for ``text`` (no special tokens), from llama.cpp's ``/tokenize``."""
        with self._lock:
            self._server()
            try:
                resp = self._http.post("/tokenize", json={"content": text, "add_special": False})
                resp.raise_for_status()
            except httpx.HTTPError as exc:
                raise VimragError(f"{self.name}: tokenizing failed ({exc})") from exc
        return [int(t) for t in resp.json()["tokens"]]

    # ------------------------------------------------------------------ internals

    def _chat(self, messages: list[Message], **params: Any) -> Completion:
        msgs = _flatten(messages)
        payload: dict[str, Any] = {"messages": msgs, "seed": self._seed}  # a call's own seed overrides it
        payload.update({k: v for k, v in params.items() if v is not None})
        t0 = time.perf_counter()
        with self._lock:
            data = self._server().handle_chat_completions(payload)
        secs = time.perf_counter() - t0
        error = data.get("error") if isinstance(data, dict) else None
        if error:
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            if isinstance(error, dict) and error.get("type") == "exceed_context_size_error":
                raise ContextOverflowError(f"{self.name}: {message}; shorten the prompt or raise models.n_ctx")
            raise VimragError(f"{self.name}: llama.cpp refused the request: {message}")
        comp = completion_from_response(
            data, secs, self.name, "\n".join(m["content"] for m in msgs), self.count_tokens
        )
        return comp


def _close(box: list[Any], http: httpx.Client) -> None:
    http.close()
    box.clear()
