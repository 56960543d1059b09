from __future__ import annotations

from pathlib import Path

import pytest

from vimrag.config import IngestConfig
from vimrag.errors import IngestError
from vimrag.ingest.image import ImageLoader
from vimrag.ingest.registry import iter_items
from vimrag.types import Modality


@pytest.mark.parametrize(
    "name", ["red.png", "red.jpg", "red.webp", "red.bmp", "red.tiff", "anim.gif", "png_named.jpg"]
)
def test_formats_decode_to_rgb(media_dir: Path, name: str) -> None:
    (item,) = list(iter_items(media_dir / name, IngestConfig()))
    assert item.modality == Modality.IMAGE
    assert item.image is not None and item.image.mode == "RGB"
    if name != "anim.gif":
        assert item.image.size == (64, 48)
        r, g, b = item.image.getpixel((2, 2))
        assert r > 150 and g < 80 and b < 80  # the red background survived decoding
    else:
        assert item.meta["n_frames"] == 2
        assert item.image.getpixel((1, 1))[2] > 200  # first frame is the blue one


def test_exif_orientation_applied(media_dir: Path) -> None:
    (item,) = list(ImageLoader().load(media_dir / "rotated.jpg", IngestConfig()))
    assert item.image.size == (20, 40)
    assert item.meta["exif_orientation"] == 6


def test_transparency_becomes_white(media_dir: Path) -> None:
    (item,) = list(ImageLoader().load(media_dir / "transparent.png", IngestConfig()))
    assert item.image.getpixel((0, 0)) == (255, 255, 255)


def test_large_image_downscaled_and_bomb_refused(media_dir: Path) -> None:
    (item,) = list(ImageLoader().load(media_dir / "wide.png", IngestConfig(image_max_side=1000)))
    assert item.image.size == (1000, 20) and item.meta["downscaled"]
    with pytest.raises(IngestError, match="too large"):
        list(ImageLoader().load(media_dir / "wide.png", IngestConfig(image_max_pixels=10_000)))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("truncated.png", "corrupt"),
        ("noise.jpg", "corrupt"),
        ("empty.png", "empty file"),
        ("text_named.png", "corrupt or unsupported image"),
        ("unknown.xyz", "unknown format"),
    ],
)
def test_bad_images_raise_ingest_error(bad_media_dir: Path, name: str, reason: str) -> None:
    with pytest.raises(IngestError, match=reason) as exc:
        list(iter_items(bad_media_dir / name, IngestConfig()))
    assert exc.value.path.endswith(name)
