"""Model backends behind protocols: text embedders, language models (with image input), perceivers."""

from vimrag.models.base import (
    Completion,
    ConceptScore,
    ImageInput,
    LanguageModel,
    Message,
    Perceiver,
    Perception,
    TextEmbedder,
)

__all__ = [
    "Completion",
    "ConceptScore",
    "ImageInput",
    "LanguageModel",
    "Message",
    "Perception",
    "Perceiver",
    "TextEmbedder",
]
