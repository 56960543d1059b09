"""Perceivers: propose and verify concepts per image (PolarMem §3.2), before the partition (Eq. 5–6).

``local`` — embedded closed-set models (COCO detector, ImageNet classifier, CDLA layout, OCR), offline.
``vlm``   — the paper's method over an OpenAI-compatible VLM (proposal JSON + yes/no template ensemble).

Both return raw :class:`~vimrag.models.base.Perception` scores; ``vimrag.polar.partition`` turns them
into HAS / NOT_HAS / UNCERTAIN. Heavy model code is imported only when a perceiver is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vimrag.errors import ConfigError

if TYPE_CHECKING:
    from vimrag.config import Config
    from vimrag.models.base import LanguageModel, Perceiver

PERCEIVERS = ("local", "vlm")


def make_perceiver(config: Config, model: LanguageModel | None = None) -> Perceiver:
    """The perceiver named by ``config.models.perceiver``.

    ``vlm`` uses ``model`` when given, else builds ``config.models.vlm`` with the model factory.
    """
    kind = (config.models.perceiver or "local").strip().lower()
    if kind == "local":
        from vimrag.models.perceivers.local import LocalPerceiver

        return LocalPerceiver.from_config(config)
    if kind == "vlm":
        from vimrag.models.perceivers.vlm import VLMPerceiver

        if model is None:
            if not config.models.vlm:
                raise ConfigError(
                    "models.perceiver = 'vlm' needs models.vlm, e.g. "
                    "openai:http://localhost:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct"
                )
            from vimrag.models.factory import make_llm

            model = make_llm(config.models.vlm, config.models, config_key="models.vlm")
        return VLMPerceiver.from_config(model, config)
    raise ConfigError(f"unknown perceiver {kind!r} in models.perceiver; known: {', '.join(PERCEIVERS)}")


def __getattr__(name: str) -> Any:  # lazy re-exports: `from vimrag.models.perceivers import LocalPerceiver`
    if name in ("LocalPerceiver", "LocalPerceiverOptions"):
        from vimrag.models.perceivers import local

        return getattr(local, name)
    if name in ("VLMPerceiver", "VLMPerceiverOptions"):
        from vimrag.models.perceivers import vlm

        return getattr(vlm, name)
    raise AttributeError(name)


__all__ = [
    "PERCEIVERS",
    "make_perceiver",
    "LocalPerceiver",
    "LocalPerceiverOptions",
    "VLMPerceiver",
    "VLMPerceiverOptions",
]
