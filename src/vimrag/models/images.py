"""Image preparation for model servers: resize to a pixel budget, encode as a data URL.

VimRAG's graph-modulated visual memory encoding (§3.2) grants each memorised item a number of visual
tokens; the agent turns tokens into a pixel budget (``ImageInput.max_pixels``). :func:`fit_to_pixels`
is where that budget is enforced before an image leaves the process, so a VLM server receives exactly
the resolution the allocation decided (Qwen-VL's own ``max_pixels`` plays the same role in the paper).
"""

from __future__ import annotations

import base64
import io
import math

from PIL import Image


def fit_to_pixels(img: Image.Image, max_pixels: int | None) -> Image.Image:
    """Downsize ``img`` (keeping its aspect ratio) so that width × height ≤ ``max_pixels``.

    Never upsizes; ``None`` returns the image unchanged. Each side stays ≥ 1 pixel.
    """
    if max_pixels is None:
        return img
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be ≥ 1, got {max_pixels}")
    w, h = img.size
    if w * h <= max_pixels:
        return img
    scale = math.sqrt(max_pixels / float(w * h))
    nw = max(1, int(w * scale))
    nh = max(1, int(h * scale))
    # int() truncation keeps nw*nh ≤ max_pixels except when a side was clamped to 1.
    while nw * nh > max_pixels and (nw > 1 or nh > 1):
        if nw >= nh and nw > 1:
            nw -= 1
        else:
            nh -= 1
    return img.resize((nw, nh), Image.Resampling.LANCZOS)


def to_data_url(img: Image.Image, fmt: str | None = None, quality: int = 90) -> str:
    """Encode an image as a ``data:image/...;base64,`` URL for the OpenAI ``image_url`` content part.

    PNG when the image has transparency or is small/paletted (lossless, exact pixels); JPEG otherwise
    (a few times smaller for photos). ``fmt`` ("PNG"/"JPEG") forces one.
    """
    if fmt is None:
        fmt = "PNG" if img.mode in ("RGBA", "LA", "P", "1") or img.width * img.height <= 64 * 64 else "JPEG"
    fmt = fmt.upper()
    if fmt not in ("PNG", "JPEG"):
        raise ValueError(f"unsupported image format {fmt!r}; use PNG or JPEG")
    buf = io.BytesIO()
    if fmt == "JPEG":
        rgb = img if img.mode == "RGB" else img.convert("RGB")
        rgb.save(buf, format="JPEG", quality=quality)
        mime = "image/jpeg"
    else:
        img.save(buf, format="PNG")
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"
