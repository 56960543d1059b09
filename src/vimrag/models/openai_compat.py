"""OpenAI-compatible chat and embedding backends: one code path for vLLM, Ollama, llama.cpp server, OpenAI.

Spec: ``openai:BASE_URL#MODEL`` (``openai:http://localhost:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct``). Without
``#MODEL`` the first model the server lists is used. This is how the paper's method runs: PolarMem's
verification score s_c (Eq. 4) is P("Yes") read from ``top_logprobs``, and VimRAG's per-item visual token
allocation reaches the VLM as the pixel budget each image is resized to (``ImageInput.max_pixels``).

Failure policy: a short connect timeout and bounded retries with exponential backoff on connection
errors, 5xx and 429, then :class:`ServerUnreachableError` naming the URL and the fix — a stopped server
fails in about a second instead of hanging an ingest.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np

from vimrag.config import ModelsConfig
from vimrag.errors import ConfigError
from vimrag.models.base import Completion, ImageInput, Message
from vimrag.models.images import fit_to_pixels, to_data_url
from vimrag.models.jsonparse import parse_json_loose
from vimrag.models.openai_http import OpenAIHTTP, ServerRequestError, parse_openai_spec

log = logging.getLogger(__name__)


def _content(msg: Message) -> str | list[dict[str, Any]]:
    if not msg.images:
        return msg.content
    parts: list[dict[str, Any]] = []
    for im in msg.images:
        img = fit_to_pixels(im.image, im.max_pixels)
        parts.append({"type": "image_url", "image_url": {"url": to_data_url(img)}})
    parts.append({"type": "text", "text": msg.content})
    return parts


def to_openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """vimrag messages → OpenAI chat messages; images become data-URL parts placed before the text."""
    return [{"role": m.role, "content": _content(m)} for m in messages]


def yes_no_from_top_logprobs(top: list[dict[str, Any]]) -> float | None:
    """P(Yes) = Σ p(tokens that strip/lower to "yes") / (Σ yes + Σ no); ``None`` when neither appears."""
    yes = no = 0.0
    for entry in top:
        tok = str(entry.get("token", "")).strip().lower()
        lp = entry.get("logprob")
        if lp is None:
            continue
        p = math.exp(float(lp))
        if tok == "yes":
            yes += p
        elif tok == "no":
            no += p
    if yes + no <= 0.0:
        return None
    return yes / (yes + no)


def yes_no_from_text(text: str) -> float:
    """Fallback when a server gives no logprobs: "Yes…" → 1, "No…" → 0, anything else → 0.5 (uncertain)."""
    t = text.strip().lstrip("*\"'`([ ").lower()
    if t.startswith("yes"):
        return 1.0
    if t.startswith("no"):
        return 0.0
    return 0.5


def completion_from_response(
    data: dict[str, Any], seconds: float, url: str, prompt_text: str, count_tokens: Callable[[str], int]
) -> Completion:
    """An OpenAI chat-completion response → :class:`Completion`, refusing answers that are not text.

    Token counts come from ``usage``; a server that omits them gets ``count_tokens`` of the texts.
    """
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ServerRequestError(url, 200, f"no choices in {str(data)[:200]}")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ServerRequestError(url, 200, f"no message in {str(choices[0])[:200]}")
    text = message.get("content")
    if text is None:  # e.g. a reply made of tool calls only
        text = ""
    if not isinstance(text, str):  # e.g. a list of content parts, or a number: not a chat answer
        raise ServerRequestError(url, 200, f"the answer is not text: {str(message)[:200]}")
    raw_usage = data.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}

    def tokens(key: str, fallback: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) and value >= 0 else count_tokens(fallback)

    return Completion(text=text, prompt_tokens=tokens("prompt_tokens", prompt_text),
                      completion_tokens=tokens("completion_tokens", text), seconds=seconds, raw=data)


def yes_probability_from_response(data: dict[str, Any]) -> float:
    """P("Yes") from a one-token chat response: its first token's ``top_logprobs`` when they hold a Yes-
    or No-like token (:func:`yes_no_from_top_logprobs`), else the answer's text (:func:`yes_no_from_text`)."""
    choice = (data.get("choices") or [{}])[0]
    content = ((choice.get("logprobs") or {}).get("content")) or []
    if content:
        top = content[0].get("top_logprobs") or []
        first = {"token": content[0].get("token", ""), "logprob": content[0].get("logprob")}
        p = yes_no_from_top_logprobs(top or [first])
        if p is not None:
            return float(p)
    text = (choice.get("message") or {}).get("content") or ""
    return yes_no_from_text(text)


class OpenAICompatLLM:
    """Chat model behind any OpenAI-compatible ``/chat/completions`` endpoint (a VLM if the server is one).

    ``count_tokens`` is an estimate (≈ 4 characters per token): servers do not share one tokenize API,
    and a round trip per count would slow the agent's budget bookkeeping. Real prompt and completion
    counts come from each response's ``usage``.
    """

    supports_images = True

    def __init__(
        self,
        spec: str,
        cfg: ModelsConfig | None = None,
        *,
        config_key: str = "models.llm",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        cfg = cfg or ModelsConfig()
        self.base_url, self._model = parse_openai_spec(spec)
        self.name = f"openai:{spec}"
        self._seed = cfg.seed
        self._http = OpenAIHTTP.from_config(self.base_url, cfg, config_key, transport)
        self._lock = threading.Lock()
        self._json_modes: list[str] | None = (
            None  # response_format variants, narrowed to what the server accepts
        )
        self._top_logprobs: list[int] = [20, 5]
        # logit_bias needs token ids: the server's own /tokenize (llama.cpp, vLLM) maps a text to them once.
        self._tokenizer: OpenAIHTTP | None = None
        self._token_ids: dict[str, int | None] = {}
        self._has_tokenizer = True

    @property
    def model(self) -> str:
        """The model id; asked from ``GET /models`` once when the spec did not name one."""
        if not self._model:
            with self._lock:
                if not self._model:
                    data = self._http.request("GET", "/models")
                    models = data.get("data") or []
                    if not models:
                        raise ServerRequestError(f"{self.base_url}/models", 200, "the server lists no model")
                    self._model = str(models[0].get("id", ""))
        return self._model

    def close(self) -> None:
        self._http.close()
        if self._tokenizer is not None:
            self._tokenizer.close()

    def _chat(self, messages: list[dict[str, Any]], **params: Any) -> tuple[dict[str, Any], float]:
        payload: dict[str, Any] = {"model": self.model, "messages": messages, "seed": self._seed}
        payload.update({k: v for k, v in params.items() if v is not None})
        t0 = time.perf_counter()
        data = self._http.request("POST", "/chat/completions", payload)
        return data, time.perf_counter() - t0

    def _completion(self, data: dict[str, Any], seconds: float, prompt_text: str) -> Completion:
        return completion_from_response(
            data, seconds, f"{self.base_url}/chat/completions", prompt_text, self.count_tokens
        )

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
        """One chat completion. ``logit_bias`` (text → bias) reaches the server keyed by the id of each text's
        first token, read from the server's own ``POST /tokenize`` (llama.cpp server, vLLM). A server without
        one (OpenAI, Ollama) gets no bias, and its decisions are the model's own: a token id guessed from
        another tokenizer could favour an unrelated token."""
        data, secs = self._chat(  # seed None: _chat keeps the configured models.seed
            to_openai_messages(messages), max_tokens=max_tokens, temperature=temperature, stop=stop or None, seed=seed,
            logit_bias=self._bias_by_token_id(logit_bias or {}) or None,
        )
        return self._completion(data, secs, "\n".join(m.content for m in messages))

    def _bias_by_token_id(self, logit_bias: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for text, bias in logit_bias.items():
            token = self._first_token_id(text) if text and bias else None
            if token is not None:
                out[str(token)] = float(bias)
        return out

    def _first_token_id(self, text: str) -> int | None:
        """The server's id for the first token of ``text``, asked once per text; ``None`` when the server has
        no tokenize route. Both request shapes go in one body: llama.cpp reads ``content``/``add_special``,
        vLLM ``model``/``prompt``/``add_special_tokens``; each ignores the other's fields."""
        if text in self._token_ids or not self._has_tokenizer:
            return self._token_ids.get(text)
        if self._tokenizer is None:  # /tokenize sits at the server's root, beside /v1
            root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
            self._tokenizer = self._http.at(root)
        body = {"model": self.model, "prompt": text, "add_special_tokens": False, "content": text,
                "add_special": False}
        try:
            tokens = self._tokenizer.request("POST", "/tokenize", body).get("tokens")
        except ServerRequestError as exc:
            if exc.status >= 500:
                raise
            log.warning("%s has no /tokenize (%s): logit_bias is not sent to it", self.base_url, exc)
            self._has_tokenizer = False
            return None
        if not (isinstance(tokens, list) and tokens and isinstance(tokens[0], int)):
            log.warning("%s/tokenize gave no token ids for %r: logit_bias is not sent for it", self.base_url, text)
            self._token_ids[text] = None
            return None
        self._token_ids[text] = tokens[0]
        return tokens[0]

    def _formats(self, schema: dict[str, Any] | None) -> list[str]:
        if self._json_modes is None:
            return ["json_schema", "json_object", "none"] if schema else ["json_object", "none"]
        return [m for m in self._json_modes if schema or m != "json_schema"]

    def generate_json(
        self,
        messages: list[Message],
        schema: dict[str, Any] | None = None,
        *,
        max_tokens: int = 256,
    ) -> tuple[Any, Completion]:
        """Constrained JSON where the server supports it, else prompt + lenient parse.

        Tries ``response_format`` ``json_schema`` (OpenAI, vLLM), then ``json_object`` (with the schema, which
        llama.cpp server enforces as a grammar; Ollama), then none (a system line asks for JSON); the first
        variant the server accepts is remembered. Raises ``JSONExtractionError`` if the text holds no JSON.
        """
        oa_messages = to_openai_messages(messages)
        last_exc: ServerRequestError | None = None
        for mode in self._formats(schema):
            params: dict[str, Any] = {"max_tokens": max_tokens, "temperature": 0.0}
            msgs = oa_messages
            if mode == "json_schema":
                params["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": schema, "strict": False},
                }
            elif mode == "json_object":
                params["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
            else:
                hint = "Respond with a single JSON value only, no prose."
                if schema:
                    hint += f" It must follow this JSON schema: {json.dumps(schema)}"
                msgs = [{"role": "system", "content": hint}, *oa_messages]
            try:
                data, secs = self._chat(msgs, **params)
            except ServerRequestError as exc:
                if exc.status in (400, 404, 415, 422, 500, 501) and mode != "none":
                    last_exc = exc
                    continue
                raise
            if self._json_modes is None or self._json_modes[0] != mode:
                all_modes = ["json_schema", "json_object", "none"]
                self._json_modes = all_modes[all_modes.index(mode) :]
            comp = self._completion(data, secs, "\n".join(m.content for m in messages))
            return parse_json_loose(comp.text), comp
        assert last_exc is not None
        raise last_exc

    def yes_probability(self, prompt: str, images: list[ImageInput] | None = None) -> float:
        """P("Yes") from the first answer token's ``top_logprobs`` (PolarMem Eq. 4's per-template term).

        Yes-like tokens ("Yes", " yes", "YES"…) and No-like ones are summed and normalized over the two.
        Servers without logprobs, or whose top list holds neither, fall back to the text answer (1/0/0.5).
        """
        msgs = to_openai_messages([Message("user", prompt, list(images or []))])
        data: dict[str, Any] | None = None
        for k in list(self._top_logprobs) + [0]:
            params: dict[str, Any] = {"max_tokens": 1, "temperature": 0.0}
            if k:
                params.update(logprobs=True, top_logprobs=k)
            try:
                data, _ = self._chat(msgs, **params)
            except ServerRequestError as exc:
                if exc.status in (400, 422, 500) and k:
                    self._top_logprobs = [t for t in self._top_logprobs if t < k]
                    continue
                raise
            break
        assert data is not None
        return yes_probability_from_response(data)

    def count_tokens(self, text: str) -> int:
        return max(1, math.ceil(len(text) / 4)) if text else 0


class OpenAICompatEmbedder:
    """Text embedder over ``POST /embeddings`` (spec ``openai:BASE_URL#MODEL`` for ``models.embedder``).

    Vectors are re-normalized to unit L2 norm and returned as float32, as the ``TextEmbedder`` protocol
    promises, whatever the server does. ``dim`` is learned from the first response.
    """

    supports_images = False

    def __init__(
        self,
        spec: str,
        cfg: ModelsConfig | None = None,
        *,
        batch_size: int = 64,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        cfg = cfg or ModelsConfig()
        self.base_url, self.model = parse_openai_spec(spec)
        if not self.model:
            raise ConfigError(f"embedder spec {spec!r} must name the model: openai:BASE_URL#MODEL")
        self.name = f"openai:{spec}"
        self._batch = batch_size
        self._dim: int | None = None
        self._http = OpenAIHTTP.from_config(self.base_url, cfg, "models.embedder", transport)

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    @dim.setter
    def dim(self, value: int) -> None:  # lets a caller that knows the model skip the probe request
        self._dim = int(value)

    def embed(self, texts: list[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of strings, not a single string")
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        rows: list[np.ndarray] = []
        for i in range(0, len(texts), self._batch):
            batch = texts[i : i + self._batch]
            data = self._http.request("POST", "/embeddings", {"model": self.model, "input": batch})
            items = sorted(data.get("data") or [], key=lambda d: d.get("index", 0))
            if len(items) != len(batch):
                raise ServerRequestError(
                    f"{self.base_url}/embeddings", 200, f"{len(items)} vectors for {len(batch)} texts"
                )
            rows.extend(np.asarray(it["embedding"], dtype=np.float32) for it in items)
        out = np.stack(rows).astype(np.float32, copy=False)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.maximum(norms, 1e-12)
        self._dim = int(out.shape[1])
        return out.astype(np.float32, copy=False)
