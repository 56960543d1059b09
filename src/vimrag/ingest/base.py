"""Loader interface: a file becomes raw items (text chunks, images, pages, video segments) with locators.

Loaders only segment and decode; perception (concepts), embedding and storage happen downstream
(``vimrag.polar.build``), so every modality flows through the same PolarMem graph construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from vimrag.config import IngestConfig
from vimrag.types import Locator, Modality


@dataclass
class RawItem:
    """A segment of a source before perception.

    ``image`` is the picture perception looks at (the photo, the rendered page, or a video segment's
    representative keyframe); ``frames`` holds a video segment's keyframes as (timestamp_s, image).
    ``text`` is the chunk text, a page's text layer (or OCR), or a segment's transcript.
    """

    modality: Modality
    locator: Locator
    text: str = ""
    image: Image.Image | None = None
    frames: list[tuple[float, Image.Image]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Loader(Protocol):
    name: str
    extensions: tuple[str, ...]  # lower-case, with dot: (".pdf",)

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        """Yield raw items; raise ``vimrag.errors.IngestError`` with a clear reason for bad input."""
        ...
