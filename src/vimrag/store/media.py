"""Media of a memory: the bounded thumbnail of each visual item and its video keyframes.

They are what a citation shows (the image, page or frame itself) and what a VLM agent is sent. Media are
named by item id, and ids come from content, so two copies of one file share their media; a name is
deleted only when no other source still uses it.

Where they live is chosen by the store factory (:func:`vimrag.store.factory.open_media`), so that every
process that can reach the store can also show its pictures (issue 17):

* :class:`FolderMedia` — a folder of JPEG files: beside an embedded store (``<folder>/media``) or
  ``store.media_dir``;
* :class:`vimrag.store.postgres_media.PostgresMedia` — a table in the store's own PostgreSQL schema, the
  default for a ``postgresql://`` store (a second machine, or a server in front of the same database,
  serves the thumbnails the ingest wrote);
* :class:`FsspecMedia` — any fsspec URL (``s3://bucket/prefix`` with s3fs, ``gs://``, ``file://``) when
  ``store.media_uri`` is set.

All three share the encoding, the name rules and the reads (:class:`MediaBase`); a backend only puts,
gets and deletes bytes by name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vimrag.errors import StoreError
from vimrag.ingest.base import RawItem
from vimrag.types import Item, Locator, Modality, item_id

#: Media names the project writes: ``<item id>.jpg`` and ``<item id>_<seconds>.jpg``. Anything else read
#: from a store (written by another process, or edited) is refused — never a path, never a URL.
_NAME = re.compile(r"[A-Za-z0-9_]+(?:\.[0-9]+)?\.jpg")


def valid_name(name: str) -> bool:
    return bool(name) and len(name) <= 128 and _NAME.fullmatch(name) is not None


class MediaBase:
    """Thumbnails as JPEG bytes by name; a backend stores the bytes (``_put``, ``_get``, ``_remove``)."""

    folder: Path | None = None  # a local folder discovery must skip (None when media are not files here)

    def __init__(self, thumb_px: int = 448, quality: int = 85) -> None:
        self.thumb_px = thumb_px
        self.quality = quality

    # --------------------------------------------------------------- what a backend provides
    def _put(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    def _get(self, name: str) -> bytes | None:
        raise NotImplementedError

    def _remove(self, names: list[str]) -> None:
        raise NotImplementedError

    # --------------------------------------------------------------- shared
    def save(self, raw: Sequence[RawItem], items: Sequence[Item]) -> None:
        """Store a thumbnail of each visual item (and its keyframes) and record the names on the items."""
        for name, data in encode_media(raw, items, self.thumb_px, self.quality):
            self.put(name, data)

    def put(self, name: str, data: bytes) -> None:
        """Store encoded media (:func:`encode_media`) under a name this project writes."""
        if not valid_name(name):
            raise StoreError(f"not a media name: {name!r}")
        self._put(name, data)

    def read(self, name: str) -> bytes | None:
        """The bytes of a media name, or None when it is unknown or not a name this project writes."""
        return self._get(name) if valid_name(name) else None

    def _image(self, name: str) -> Image.Image | None:
        data = self.read(name)
        if data is None:
            return None
        with Image.open(io.BytesIO(data)) as im:
            return im.convert("RGB")

    def load(self, item: Item) -> Image.Image | None:
        """The item's thumbnail as RGB, or None when it has none (or it was deleted)."""
        return self._image(item.media or "")

    def load_keyframes(self, item: Item, times: Sequence[float]) -> list[tuple[float, Image.Image]]:
        """The stored keyframes of a video item at ``times`` (those the agent's memorize kept), in order;
        a time with no stored frame (or a deleted one) is left out."""
        by_t = {round(float(f["t"]), 2): f["media"] for f in item.meta.get("keyframe_media", [])}
        out = []
        for t in times:
            im = self._image(by_t.get(round(float(t), 2), ""))
            if im is not None:
                out.append((float(t), im))
        return out

    def delete(self, names: Iterable[str]) -> None:
        self._remove([n for n in names if valid_name(n)])

    def close(self) -> None:
        """Release what the backend holds open (a database connection)."""


class FolderMedia(MediaBase):
    """A folder of JPEG thumbnails, written atomically (temp file + rename)."""

    def __init__(self, root: Path, thumb_px: int = 448, quality: int = 85, create: bool = True) -> None:
        super().__init__(thumb_px, quality)
        self.root = Path(root)
        self.folder = self.root
        if create:
            self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path | None:
        """The file of a media name, or None when the name would lead outside this folder.

        Media names come from the store (possibly written by another process, or edited); ``/etc/passwd``
        or ``../../x`` must never be read or deleted through them.
        """
        if not name:
            return None
        path = (self.root / name).resolve()
        return path if path.is_relative_to(self.root.resolve()) else None

    def read(self, name: str) -> bytes | None:
        """A folder's rule is confinement (:meth:`path`): any file inside it, nothing outside."""
        return self._get(name)

    def _get(self, name: str) -> bytes | None:
        path = self.path(name)
        return path.read_bytes() if path is not None and path.is_file() else None

    def delete(self, names: Iterable[str]) -> None:
        self._remove([n for n in names if n])

    def _put(self, name: str, data: bytes) -> None:
        path = self.root / name
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def _remove(self, names: list[str]) -> None:
        for name in names:
            path = self.path(name)
            if path is not None:
                path.unlink(missing_ok=True)


class FsspecMedia(MediaBase):
    """Media under an fsspec URL (``store.media_uri``: ``s3://bucket/prefix``, ``gs://…``, ``file:///…``)."""

    def __init__(self, uri: str, thumb_px: int = 448, quality: int = 85) -> None:
        super().__init__(thumb_px, quality)
        from vimrag._extras import require

        fsspec: Any = require("fsspec", "store", "fsspec")
        try:
            self._fs, root = fsspec.core.url_to_fs(uri)
        except (ValueError, ImportError) as exc:  # unknown protocol, or its package (s3fs, gcsfs) missing
            raise StoreError(f"store.media_uri {uri!r}: {exc}") from exc
        self._root = str(root).rstrip("/")
        self.uri = uri
        if getattr(self._fs, "protocol", "") in ("file", ("file", "local")):
            self.folder = Path(self._root)
        self._fs.makedirs(self._root, exist_ok=True)

    def _key(self, name: str) -> str:
        return f"{self._root}/{name}"

    def _put(self, name: str, data: bytes) -> None:
        try:
            self._fs.pipe_file(self._key(name), data)
        except OSError as exc:
            raise StoreError(f"cannot write media to {self.uri}: {exc}") from exc

    def _get(self, name: str) -> bytes | None:
        try:
            return bytes(self._fs.cat_file(self._key(name)))
        except FileNotFoundError:
            return None

    def _remove(self, names: list[str]) -> None:
        for name in names:
            try:
                self._fs.rm_file(self._key(name))
            except FileNotFoundError:
                continue


def encode_media(raw: Sequence[RawItem], items: Sequence[Item], thumb_px: int = 448, quality: int = 85,
                 ) -> list[tuple[str, bytes]]:
    """The JPEG thumbnail of each visual item and of its keyframes, by name; records the names on the items
    (``item.media``, ``meta["keyframe_media"]``). Pure: an ingest worker encodes, the writer stores."""
    out: list[tuple[str, bytes]] = []
    for r, item in zip(raw, items, strict=True):
        if r.image is None:
            continue
        item.media = f"{item.id}.jpg"
        out.append((item.media, _jpeg(r.image, thumb_px, quality)))
        frames = []
        for t, frame in r.frames:
            fname = f"{item.id}_{t:.2f}.jpg"
            out.append((fname, _jpeg(frame, thumb_px, quality)))
            frames.append({"t": t, "media": fname})
        if frames:
            item.meta["keyframe_media"] = frames
    return out


def _jpeg(img: Image.Image, thumb_px: int, quality: int) -> bytes:
    im = img.convert("RGB")
    im.thumbnail((thumb_px, thumb_px))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


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

