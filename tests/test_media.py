"""The media folder: thumbnails written and read inside it only."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from vimrag.media import MediaStore
from vimrag.types import Item, Locator, Modality


def _item(media: str) -> Item:
    return Item("i1", "/x/a.png", "h", Modality.IMAGE, Locator(), media=media)


def test_names_leading_outside_the_folder_are_neither_read_nor_deleted(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "store" / "media")
    outside = tmp_path / "store" / "precious.jpg"
    Image.new("RGB", (8, 8), (200, 0, 0)).save(outside)
    for name in (str(outside), "../precious.jpg", "../../store/precious.jpg"):
        assert store.path(name) is None
        assert store.load(_item(name)) is None
        store.delete([name])
        assert outside.exists(), name
    inside = store.root / "ok.jpg"
    Image.new("RGB", (8, 8), (0, 200, 0)).save(inside)
    loaded = store.load(_item("ok.jpg"))
    assert loaded is not None and loaded.size == (8, 8)
    store.delete(["ok.jpg"])
    assert not inside.exists()
