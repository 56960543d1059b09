"""Plain-text and Markdown loaders: a file becomes overlapping chunks for the knowledge pathway.

PolarMem's text pathway (§3.3, Eq. 7) links chunk entities to concept nodes; chunks must therefore be small
enough for NER and embedding (``IngestConfig.chunk_chars``) yet keep their context. We split on structure
first (Markdown headings, then blank-line paragraphs), pack paragraphs greedily up to ``chunk_chars``, cut an
over-long paragraph at sentence or word boundaries, and carry ``chunk_overlap`` characters of the previous
chunk of the same section into the next one. A chunk never spans two sections, so its heading path
(``meta["headings"]``) is exact. Chunk text is verbatim from the file (``meta["char_start"/"char_end"]``
point into the decoded text), so a citation can quote it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vimrag.config import IngestConfig
from vimrag.errors import IngestError
from vimrag.ingest.base import RawItem
from vimrag.types import Locator, Modality

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_PARA_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")


@dataclass
class Section:
    """A run of text under one heading path; ``offset`` is where ``text`` starts in the whole document."""

    headings: tuple[str, ...]
    text: str
    offset: int = 0
    level: int = 0
    meta: dict[str, object] = field(default_factory=dict)


def decode_text(path: Path, data: bytes | None = None) -> str:
    """Decode a text file (UTF-8 with or without BOM, else UTF-16 with BOM, else Latin-1).

    A file with NUL bytes and no UTF-16 BOM is binary, not text: refusing it beats indexing garbage.
    """
    raw = path.read_bytes() if data is None else data
    if not raw:
        raise IngestError(str(path), "empty file")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError(str(path), f"invalid UTF-16 text: {exc}") from exc
    if b"\x00" in raw[:65536]:
        raise IngestError(str(path), "binary content (NUL bytes), not a text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def markdown_sections(text: str) -> list[Section]:
    """Split Markdown into sections at ATX headings (``#`` … ``######``), ignoring fenced code blocks.

    The heading line starts its own section, so a chunk carries its title as text too.
    """
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    start, level = 0, 0
    in_fence = False
    pos = 0
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line.rstrip("\r\n"))
        if m:
            if pos > start:
                sections.append(Section(tuple(t for _, t in stack), text[start:pos], start, level))
            level = len(m.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, m.group(2).strip()))
            start = pos
        pos += len(line)
    if pos > start:
        sections.append(Section(tuple(t for _, t in stack), text[start:pos], start, level))
    return [s for s in sections if s.text.strip()]


def _spans(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Non-blank pieces of ``text`` between matches of ``pattern`` as (start, end) offsets."""
    out, last = [], 0
    for m in pattern.finditer(text):
        out.append((last, m.start()))
        last = m.end()
    out.append((last, len(text)))
    result = []
    for a, b in out:
        piece = text[a:b]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece) - len(piece.rstrip())
            result.append((a + lead, b - trail))
    return result


def _cut_long(text: str, a: int, b: int, size: int) -> list[tuple[int, int]]:
    """Cut span [a, b) into pieces ≤ size, preferring sentence ends, then whitespace, then a hard cut."""
    pieces: list[tuple[int, int]] = []
    while b - a > size:
        window = text[a : a + size]
        cut = -1
        for m in _SENTENCE_END.finditer(window):
            if m.start() > size // 3:
                cut = m.start()
        if cut < 0:
            cut = window.rfind(" ", size // 3)
        if cut <= 0:
            cut = size
        pieces.append((a, a + cut))
        a += cut
        while a < b and text[a].isspace():
            a += 1
    if b > a:
        pieces.append((a, b))
    return pieces


def chunk_spans(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """Greedy paragraph packing into spans of at most ``size`` characters (plus overlap carried in front).

    Returned spans index ``text``; consecutive spans overlap by about ``overlap`` characters (snapped to a word
    boundary) when both come from the same text.
    """
    if size <= 0:
        raise ValueError("chunk size must be positive")
    overlap = max(0, min(overlap, size // 2))
    units: list[tuple[int, int]] = []
    for a, b in _spans(text, _PARA_BREAK):
        units.extend(_cut_long(text, a, b, size) if b - a > size else [(a, b)])
    spans: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for a, b in units:
        if cur is not None and b - cur[0] <= size:
            cur = (cur[0], b)
            continue
        if cur is not None:
            spans.append(cur)
            start = a
            if overlap:
                back = max(cur[0], cur[1] - overlap)
                sp = text.find(" ", back, cur[1])
                back = sp + 1 if 0 <= sp < cur[1] - 1 else back
                start = min(a, back)
            cur = (start, b)
        else:
            cur = (a, b)
    if cur is not None:
        spans.append(cur)
    return spans


def chunk_sections(
    sections: Iterable[Section], config: IngestConfig, *, source_kind: str
) -> Iterator[RawItem]:
    """Chunk every section and yield TEXT items numbered 0, 1, 2, … across the document."""
    index = 0
    for sec in sections:
        for a, b in chunk_spans(sec.text, config.chunk_chars, config.chunk_overlap):
            meta: dict[str, object] = {
                "format": source_kind,
                "char_start": sec.offset + a,
                "char_end": sec.offset + b,
            }
            if sec.headings:
                meta["headings"] = list(sec.headings)
            meta.update(sec.meta)
            yield RawItem(Modality.TEXT, Locator(chunk=index), text=sec.text[a:b], meta=meta)
            index += 1


class TextLoader:
    """Plain text (``.txt``, ``.rst``, ``.log``): paragraphs packed into overlapping chunks."""

    name: str = "text"
    extensions: tuple[str, ...] = (".txt", ".text", ".rst", ".log")

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        text = decode_text(path)
        if not text.strip():
            raise IngestError(str(path), "no text (file is blank)")
        yield from chunk_sections([Section((), text, 0)], config, source_kind="text")


class MarkdownLoader:
    """Markdown: sections at headings, then paragraphs; each chunk records its heading path in ``meta``."""

    name: str = "markdown"
    extensions: tuple[str, ...] = (".md", ".markdown", ".mdown", ".mkd")

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        text = decode_text(path)
        if not text.strip():
            raise IngestError(str(path), "no text (file is blank)")
        yield from chunk_sections(markdown_sections(text), config, source_kind="markdown")
