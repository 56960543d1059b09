"""Which loader reads a file: by content (magic bytes) first, by extension second.

Extensions lie (a PNG saved as ``.jpg``, a PDF named ``.txt``) and are sometimes missing, so the first bytes
decide when they identify a format; the extension picks the loader otherwise, and that loader then reports
a damaged file with its own precise reason. An empty file or content no loader understands is an
:class:`IngestError` naming the reason, so a batch can report it and go on (issue: "bad input is reported
per file and skipped").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vimrag.config import IngestConfig
from vimrag.errors import IngestError, VimragError
from vimrag.ingest.base import Loader, RawItem
from vimrag.ingest.html import HtmlLoader
from vimrag.ingest.image import ImageLoader
from vimrag.ingest.office import DocxLoader, PptxLoader
from vimrag.ingest.pdf import PdfLoader
from vimrag.ingest.sheets import CsvLoader, XlsxLoader
from vimrag.ingest.text import MarkdownLoader, TextLoader
from vimrag.ingest.video import VideoLoader

_LOADERS: dict[str, Loader] = {
    ld.name: ld
    for ld in (TextLoader(), MarkdownLoader(), HtmlLoader(), PdfLoader(), ImageLoader(), VideoLoader(),
               DocxLoader(), PptxLoader(), XlsxLoader(), CsvLoader())
}
_BY_EXT: dict[str, str] = {ext: ld.name for ld in _LOADERS.values() for ext in ld.extensions}
_TEXTUAL = {"text", "markdown", "html", "csv"}
_OFFICE = {"docx", "pptx", "xlsx"}  # ZIP containers told apart by their extension
_HEAD = 4096


def supported_extensions() -> tuple[str, ...]:
    """All extensions (lower-case, with dot) some loader claims."""
    return tuple(sorted(_BY_EXT))


def sniff(head: bytes) -> str | None:
    """Loader name suggested by a file's first bytes, or None when they identify nothing we read."""
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(
        (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
    ):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska / WebM
        return "video"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "image" if brand in (b"heic", b"heix", b"mif1", b"avif", b"msf1") else "video"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):  # QuickTime without ftyp
        return "video"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the buffer's end
            try:
                head.decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
                return None
            text = head.decode("latin-1")
        else:
            text = head[: exc.start].decode("utf-8")
    low = text.lstrip("\ufeff \t\r\n").lower()
    if low.startswith(("<!doctype html", "<html")) or ("<html" in low[:1024] and "<body" in low):
        return "html"
    return "text"


def loader_for(path: str | Path) -> Loader:
    """The loader for ``path``, or :class:`IngestError` (missing, empty, unknown format)."""
    p = Path(path)
    if not p.is_file():
        raise IngestError(str(p), "not a regular file" if p.exists() else "file not found")
    try:
        with open(p, "rb") as f:
            head = f.read(_HEAD)
    except OSError as exc:
        raise IngestError(str(p), f"cannot read file: {exc}") from exc
    if not head:
        raise IngestError(str(p), "empty file (0 bytes)")
    ext = p.suffix.lower()
    by_ext = _BY_EXT.get(ext)
    by_magic = sniff(head)
    if by_magic in ("pdf", "image", "video"):
        return _LOADERS[by_magic]
    if by_magic == "zip":
        if by_ext in _OFFICE:
            return _LOADERS[by_ext]
        raise IngestError(str(p), f"unsupported format: a ZIP archive{f' named {ext!r}' if ext else ''} "
                          "(DOCX, PPTX and XLSX are read; unpack other archives first)")
    if by_magic == "html" and by_ext in (None, "text", "html"):
        return _LOADERS["html"]
    if by_magic in ("text", "html"):
        if by_ext is not None:
            return _LOADERS[by_ext]  # markdown/html/text as named; a ".png" holding text fails in ImageLoader
        if ext == "":
            return _LOADERS["text"]  # README, NOTES: extension-less text
        raise IngestError(str(p), f"unsupported format '{ext}' (text content, but not a kind vimrag ingests)")
    if by_ext is not None and by_ext not in _TEXTUAL:
        return _LOADERS[by_ext]  # unrecognised bytes: the named loader reports the damage precisely
    kind = f"'{ext}' " if ext else ""
    raise IngestError(str(p), f"unknown format {kind}(binary content not recognised: {head[:8]!r})")


def iter_items(path: str | Path, config: IngestConfig) -> Iterator[RawItem]:
    """Load ``path`` with its loader; any decoding failure surfaces as :class:`IngestError` with the reason.

    Environment problems (a missing extra or model: other :class:`VimragError`) propagate unchanged, since
    they are not about this file. Callers that must not store half a file should collect all items first.
    """
    p = Path(path)
    loader = loader_for(p)
    try:
        yield from loader.load(p, config)
    except VimragError:
        raise
    except (OSError, ValueError, RuntimeError, EOFError, SyntaxError, KeyError, IndexError) as exc:
        raise IngestError(str(p), f"{loader.name} loader failed: {type(exc).__name__}: {exc}") from exc
