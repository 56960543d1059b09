"""Build model backends from the short spec strings in ``ModelsConfig`` (``backend:argument``).

Backends are imported only when chosen, so a user of an OpenAI-compatible server never needs torch or
llama.cpp, and a missing optional dependency fails with :class:`MissingExtraError` naming the extra.

==========================  ============================================  ==========================
spec                        example                                       extra
==========================  ============================================  ==========================
``llamacpp:NAME_OR_PATH``   ``llamacpp:qwen2.5-coder-1.5b``               ``local``
``openai:URL#MODEL``        ``openai:http://localhost:8000/v1#Qwen/...``  (core)
``sentence-transformers:``  ``sentence-transformers:all-MiniLM-L6-v2``    ``local``
==========================  ============================================  ==========================
"""

from __future__ import annotations

from collections.abc import Callable

from vimrag.config import ModelsConfig
from vimrag.errors import ConfigError
from vimrag.models.base import LanguageModel, TextEmbedder


def split_spec(spec: str, what: str, known: list[str]) -> tuple[str, str]:
    """``"backend:arg"`` → ("backend", "arg"); only the first colon splits (URLs and paths keep theirs)."""
    backend, sep, arg = (spec or "").partition(":")
    backend = backend.strip().lower()
    if not sep or not backend or not arg.strip():
        raise ConfigError(
            f"{what} spec {spec!r} must look like BACKEND:ARGUMENT; known backends: {', '.join(known)}"
        )
    if backend not in known:
        raise ConfigError(
            f"unknown {what} backend {backend!r} in {spec!r}; known backends: {', '.join(known)}"
        )
    return backend, arg.strip()


def _llamacpp(arg: str, cfg: ModelsConfig, config_key: str) -> LanguageModel:
    from vimrag.models.llamacpp import LlamaCppLLM

    return LlamaCppLLM(arg, cfg)


def _openai_llm(arg: str, cfg: ModelsConfig, config_key: str) -> LanguageModel:
    from vimrag.models.openai_compat import OpenAICompatLLM

    return OpenAICompatLLM(arg, cfg, config_key=config_key)


def _st_embedder(arg: str, cfg: ModelsConfig) -> TextEmbedder:
    from vimrag.models.embedders import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(arg)


def _onnx_embedder(arg: str, cfg: ModelsConfig) -> TextEmbedder:
    from vimrag.models.embedders import OnnxEmbedder

    return OnnxEmbedder(arg, n_threads=cfg.n_threads)


def _openai_embedder(arg: str, cfg: ModelsConfig) -> TextEmbedder:
    from vimrag.models.openai_compat import OpenAICompatEmbedder

    return OpenAICompatEmbedder(arg, cfg)


LLM_BACKENDS: dict[str, Callable[[str, ModelsConfig, str], LanguageModel]] = {
    "llamacpp": _llamacpp,
    "openai": _openai_llm,
}
EMBEDDER_BACKENDS: dict[str, Callable[[str, ModelsConfig], TextEmbedder]] = {
    "onnx": _onnx_embedder,
    "sentence-transformers": _st_embedder,
    "openai": _openai_embedder,
}


def make_llm(spec: str, cfg: ModelsConfig | None = None, *, config_key: str = "models.llm") -> LanguageModel:
    """A language model (or VLM) from ``models.llm`` / ``models.vlm``; ``config_key`` names it in errors."""
    backend, arg = split_spec(spec, "language model", sorted(LLM_BACKENDS))
    return LLM_BACKENDS[backend](arg, cfg or ModelsConfig(), config_key)


def make_embedder(spec: str, cfg: ModelsConfig | None = None) -> TextEmbedder:
    """A text embedder from ``models.embedder``."""
    backend, arg = split_spec(spec, "embedder", sorted(EMBEDDER_BACKENDS))
    return EMBEDDER_BACKENDS[backend](arg, cfg or ModelsConfig())
