"""Media files of a memory: the bounded thumbnail of each visual item and its video keyframes.

They are what a citation shows (the image, page or frame itself) and what a VLM agent is sent. Files are
named by item id, and ids come from content, so two copies of one file share their media; a file is
deleted only when no other source still uses it. Where the folder is comes from the store factory
(:func:`vimrag.store.factory.media_dir`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from PIL import Image

from vimrag.ingest.base import RawItem
from vimrag.types import Item, Locator, Modality, item_id


class MediaStore:
    """A folder of JPEG thumbnails, written atomically (temp file + rename)."""

    def __init__(self, root: Path, thumb_px: int = 448, quality: int = 85) -> None:
        self.root = root
        self.thumb_px = thumb_px
        self.quality = quality
        root.mkdir(parents=True, exist_ok=True)

    def save(self, raw: Sequence[RawItem], items: Sequence[Item]) -> None:
        """Store a thumbnail of each visual item (and its keyframes) and record the names on the items."""
        for r, item in zip(raw, items, strict=True):
            if r.image is None:
                continue
            name = f"{item.id}.jpg"
            self._thumb(r.image, name)
            item.media = name
            frames = []
            for t, frame in r.frames:
                fname = f"{item.id}_{t:.2f}.jpg"
                self._thumb(frame, fname)
                frames.append({"t": t, "media": fname})
            if frames:
                item.meta["keyframe_media"] = frames

    def path(self, name: str) -> Path | None:
        """The file of a media name, or None when the name would lead outside this folder.

        Media names come from the store (possibly written by another process, or edited); ``/etc/passwd``
        or ``../../x`` must never be read or deleted through them.
        """
        if not name:
            return None
        path = (self.root / name).resolve()
        return path if path.is_relative_to(self.root.resolve()) else None

    def load(self, item: Item) -> Image.Image | None:
        """The item's thumbnail as RGB, or None when it has none (or it was deleted)."""
        path = self.path(item.media or "")
        if path is None or not path.is_file():
            return None
        with Image.open(path) as im:
            return im.convert("RGB")

    def load_keyframes(self, item: Item, times: Sequence[float]) -> list[tuple[float, Image.Image]]:
        """The stored keyframes of a video item at ``times`` (those the agent's memorize kept), in order;
        a time with no stored frame (or a deleted file) is left out."""
        by_t = {round(float(f["t"]), 2): f["media"] for f in item.meta.get("keyframe_media", [])}
        out = []
        for t in times:
            path = self.path(by_t.get(round(float(t), 2), ""))
            if path is not None and path.is_file():
                with Image.open(path) as im:
                    out.append((float(t), im.convert("RGB")))
        return out

    def delete(self, names: Iterable[str]) -> None:
        for name in names:
            path = self.path(name)
            if path is not None:
                path.unlink(missing_ok=True)

    def _thumb(self, img: Image.Image, name: str) -> None:
        im = img.convert("RGB")
        im.thumbnail((self.thumb_px, self.thumb_px))
        path = self.root / name
        tmp = path.with_suffix(".tmp")
        im.save(tmp, "JPEG", quality=self.quality)
        tmp.replace(path)


def media_names(item: Item) -> list[str]:
    """Every media file an item uses: its thumbnail and its keyframes."""
    names = [f["media"] for f in item.meta.get("keyframe_media", [])]
    return [item.media, *names] if item.media else names


def shown_media(item: Item) -> str | None:
    """The picture that shows an item: its own thumbnail, or for a region of a PDF page (a table, with its
    ``box``) the thumbnail of the page it lies on (page items are named by their id, like every item)."""
    if item.media:
        return item.media
    if item.meta.get("format") == "pdf" and item.locator.page is not None:
        return f"{item_id(item.source_hash, Modality.PAGE, Locator(page=item.locator.page))}.jpg"
    return None
