"""Media backends: a folder (reads confined to it), an fsspec URL, the PostgreSQL store's own table."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from PIL import Image

from tests.store.conftest import PG_URI, _with_schema, pg_skip
from vimrag.store.media import FolderMedia, FsspecMedia, MediaBase, valid_name
from vimrag.types import Item, Locator, Modality


def _item(media: str) -> Item:
    return Item("i1", "/x/a.png", "h", Modality.IMAGE, Locator(), media=media)


def test_names_leading_outside_the_folder_are_neither_read_nor_deleted(tmp_path: Path) -> None:
    store = FolderMedia(tmp_path / "store" / "media")
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

    store = FolderMedia(tmp_path / "media", thumb_px=64)
    frames = [(2.0, Image.new("RGB", (32, 18), (250, 0, 0))), (7.5, Image.new("RGB", (32, 18), (0, 0, 250)))]
    raw = RawItem(Modality.VIDEO, Locator(start=0.0, end=10.0, keyframes=(2.0, 7.5)), image=frames[0][1], frames=frames)
    item = Item("v", "/x/v.mp4", "h", Modality.VIDEO, locator=raw.locator)
    store.save([raw], [item])
    got = store.load_keyframes(item, [7.5, 2.0, 5.0])  # 5.0 was never stored
    assert [t for t, _ in got] == [7.5, 2.0]
    assert got[0][1].getpixel((5, 5))[2] > 200 and got[1][1].getpixel((5, 5))[0] > 200
    (tmp_path / "media" / item.meta["keyframe_media"][0]["media"]).unlink()
    assert [t for t, _ in store.load_keyframes(item, [2.0, 7.5])] == [7.5]


# ------------------------------------------------------------------------------- other backends


def _roundtrip(media: MediaBase) -> None:
    """save → read back as the same picture → delete; names that are not ours are never used as keys."""
    from vimrag.ingest.base import RawItem

    raw = RawItem(Modality.IMAGE, Locator(), image=Image.new("RGB", (40, 30), (10, 200, 10)))
    item = Item("abc123", "/x/a.png", "h", Modality.IMAGE)
    media.save([raw], [item])
    assert item.media == "abc123.jpg"
    im = media.load(item)
    assert im is not None and im.size == (40, 30) and im.getpixel((5, 5))[1] > 150
    for bad in ("../abc123.jpg", "/etc/passwd", "abc123.jpg/../x.jpg", "s3://other/x.jpg"):
        assert not valid_name(bad) and media.read(bad) is None
    media.delete(["../abc123.jpg"])  # refused: the real one stays
    assert media.read("abc123.jpg") is not None
    media.delete(["abc123.jpg"])
    assert media.read("abc123.jpg") is None and media.load(item) is None


def test_fsspec_media_under_a_url(tmp_path: Path) -> None:
    _roundtrip(FsspecMedia(f"file://{tmp_path / 'bucket' / 'prefix'}"))
    assert not list((tmp_path / "bucket" / "prefix").iterdir())  # deleted for real
    _roundtrip(FsspecMedia(f"memory://vimrag-test-{uuid.uuid4().hex[:8]}/media"))


def test_unknown_media_url_is_a_clear_error() -> None:
    from vimrag.errors import StoreError

    with pytest.raises(StoreError, match="media_uri"):
        FsspecMedia("nosuchprotocol://bucket/x")


@pytest.mark.integration
@pytest.mark.postgres
@pg_skip
def test_postgres_media_are_shared_by_every_process_and_read_old_folders(tmp_path: Path) -> None:
    from vimrag.store.postgres import PostgresStore
    from vimrag.store.postgres_media import PostgresMedia

    uri = _with_schema(PG_URI, "m_" + uuid.uuid4().hex[:10])
    legacy = tmp_path / "old-cache"
    legacy.mkdir()
    Image.new("RGB", (8, 8), (0, 0, 250)).save(legacy / "old123.jpg")
    writer, reader = PostgresMedia(uri), PostgresMedia(uri, legacy=legacy)  # two connections, as two processes
    try:
        _roundtrip(writer)
        from vimrag.ingest.base import RawItem

        item = Item("def456", "/x/b.png", "h", Modality.IMAGE)
        writer.save([RawItem(Modality.IMAGE, Locator(), image=Image.new("RGB", (16, 16), (250, 0, 0)))], [item])
        seen = reader.load(item)
        assert seen is not None and seen.getpixel((3, 3))[0] > 200  # written by one, read by the other
        old = reader.load(Item("old123", "/x/c.png", "h", Modality.IMAGE, media="old123.jpg"))
        assert old is not None and old.getpixel((3, 3))[2] > 200  # a thumbnail from before the move
    finally:
        writer.close()
        reader.close()
        s = PostgresStore(uri)
        s.drop()
        s.close()
