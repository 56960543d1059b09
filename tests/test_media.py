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


def test_keyframes_are_loaded_by_their_time(tmp_path: Path) -> None:
    """The frames a video item's memorize kept come back from the media folder, in the asked order."""
    from vimrag.ingest.base import RawItem
    from vimrag.types import Locator, Modality

    store = MediaStore(tmp_path / "media", thumb_px=64)
    frames = [(2.0, Image.new("RGB", (32, 18), (250, 0, 0))), (7.5, Image.new("RGB", (32, 18), (0, 0, 250)))]
    raw = RawItem(Modality.VIDEO, Locator(start=0.0, end=10.0, keyframes=(2.0, 7.5)), image=frames[0][1], frames=frames)
    item = Item("v", "/x/v.mp4", "h", Modality.VIDEO, locator=raw.locator)
    store.save([raw], [item])
    got = store.load_keyframes(item, [7.5, 2.0, 5.0])  # 5.0 was never stored
    assert [t for t, _ in got] == [7.5, 2.0]
    assert got[0][1].getpixel((5, 5))[2] > 200 and got[1][1].getpixel((5, 5))[0] > 200
    (tmp_path / "media" / item.meta["keyframe_media"][0]["media"]).unlink()
    assert [t for t, _ in store.load_keyframes(item, [2.0, 7.5])] == [7.5]
