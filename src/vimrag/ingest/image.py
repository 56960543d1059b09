"""Image loader: one IMAGE item per file, decoded safely and oriented as the camera meant it.

The picture is what PolarMem's perceiver proposes and verifies concepts on (§3.2, Eq. 4–6), so it must be
right side up (EXIF orientation applied), in RGB (palette/alpha/16-bit/CMYK converted; transparency
composited on white) and of a bounded size: JPEGs are decoded at a reduced scale with ``draft`` (cheap for
huge photos), everything is then downscaled to ``IngestConfig.image_max_side``, and images above
``image_max_pixels`` are refused as decompression bombs. Animated GIF/WebP and multi-page TIFF: the first
frame (``meta["n_frames"]`` says how many there were).
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from vimrag.config import IngestConfig
from vimrag.errors import IngestError
from vimrag.ingest.base import RawItem
from vimrag.types import Locator, Modality


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB copy of any PIL mode; transparent pixels become white (a detector sees black as an object)."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.point(lambda v: v / 256).convert("L").convert("RGB")
    return img.convert("RGB")


# What Pillow's decoders raise on broken data: besides OSError/SyntaxError, truncated GIF blocks give an
# IndexError and bad struct fields a struct.error (found by tests/ingest/test_fuzz.py).
_CORRUPT = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


def load_image(path: Path, config: IngestConfig) -> tuple[Image.Image, dict[str, Any]]:
    """Decode ``path`` into an oriented RGB image bounded by ``config.image_max_side``, plus metadata."""
    p = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked below
            with Image.open(path) as probe:
                fmt = probe.format or ""
                size = probe.size
                probe.verify()  # structure/CRC check; the object is unusable afterwards
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise IngestError(p, _reason(exc)) from exc
    except _CORRUPT as exc:
        raise IngestError(p, f"corrupt image: {exc}") from exc
    if size[0] * size[1] > config.image_max_pixels:
        raise IngestError(p, f"image too large: {size[0]}×{size[1]} pixels (limit {config.image_max_pixels})")
    max_side = config.image_max_side
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                n_frames = getattr(img, "n_frames", 1)
                img.seek(0)
                if fmt == "JPEG" and max(size) > 2 * max_side:
                    img.draft("RGB", (max_side, max_side))  # DCT-domain downscale: decodes at 1/2..1/8 size
                img.load()
                orientation = img.getexif().get(0x0112, 1)
                oriented = ImageOps.exif_transpose(img)
                out = to_rgb(oriented if oriented is not None else img)
    except _CORRUPT as exc:
        raise IngestError(p, f"corrupt image: {exc or type(exc).__name__}") from exc
    downscaled = max(out.size) > max_side
    if downscaled:
        out.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    meta = {
        "format": fmt.lower(),
        "width": size[0],
        "height": size[1],
        "exif_orientation": int(orientation),
        "n_frames": int(n_frames),
        "downscaled": downscaled or out.size != tuple(size),
    }
    return out, meta


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "corrupt or unsupported image: content is not a decodable image"
    return f"image too large (decompression bomb guard): {exc}"


class ImageLoader:
    """Raster images: png, jpg/jpeg, webp, bmp, gif (first frame), tiff (first page)."""

    name: str = "image"
    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        image, meta = load_image(path, config)
        yield RawItem(Modality.IMAGE, Locator(), image=image, meta=meta)
