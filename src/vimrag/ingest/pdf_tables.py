"""Ruled tables of a PDF's text layer (``pdfplumber``: MIT, on pdfminer.six: MIT) as table items.

A page's text layer flattens a table into a run of numbers, and a model reading it picks the wrong column
(issue 15: "how many bicycles did the North region sell in Q3?" → the Total). ``pdfplumber`` finds tables
from the ruling lines and returns their cells; each table becomes a TEXT item (:mod:`vimrag.ingest.tables`)
cited by page **and box** (0–1000 of the page), titled by the line of text just above it (its caption,
usually). The page item stays, for whole-page questions and for the perceiver, and its text is rebuilt
around the tables (:func:`read_tables`): the text above, each table as named rows, the text below, so a
model reading the page reads the cells by their columns too instead of a run of numbers.

Only tables drawn with lines are found (pdfplumber's "lines" strategy): guessing tables from text
alignment finds many false ones in multi-column prose. Scanned pages have no text layer and no tables
here (their OCR text stays on the page item).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vimrag._extras import require
from vimrag.config import IngestConfig
from vimrag.ingest.base import RawItem
from vimrag.ingest.pdf_figures import PageFigure, page_figures, text_lines
from vimrag.ingest.pdf_matrices import Matrix, read_matrices
from vimrag.ingest.tables import norm_box, normalize, row_blocks, table_text
from vimrag.types import Locator, Modality

log = logging.getLogger(__name__)

CAPTION_GAP_PT = 40.0  # how far above a table its caption may be


def _caption(page: Any, top: float) -> str:
    lines = text_lines(page, top - CAPTION_GAP_PT, top)
    return lines[-1] if lines else ""


@dataclass
class PageTables:
    """The ruled tables of one page and the page's text rebuilt around them (and its figures, found in the
    same pass: :mod:`vimrag.ingest.pdf_figures`)."""

    tables: list[tuple[tuple[float, float, float, float], list[list[str]], str]]  # (0–1000 box, rows, caption)
    text: str  # the text layer in reading bands, each table written as named rows ("" without tables)
    figures: list[PageFigure] = field(default_factory=list)
    matrices: list[Matrix] = field(default_factory=list)  # charts and unruled tables of the text layer


def _band_text(page: Any, top: float, bottom: float, boxes: list[tuple[float, float, float, float]]) -> str:
    """The text of a horizontal band of the page, leaving out the characters inside the tables."""
    if bottom - top < 0.5:
        return ""
    band = page.crop((0, top, page.width, bottom), strict=False)

    def outside(obj: Any) -> bool:
        if obj.get("object_type") != "char":
            return True
        cx, cy = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= cx <= x1 and t <= cy <= b for x0, t, x1, b in boxes)

    return str(band.filter(outside).extract_text() or "").strip()


def _page_tables(page: Any) -> PageTables | None:
    found = sorted(((t.bbox, normalize(t.extract())) for t in page.find_tables()), key=lambda t: t[0][1])
    found = [(bbox, rows) for bbox, rows in found if len(rows) >= 2 and len(rows[0]) >= 2]
    if not found:
        return None
    boxes = [bbox for bbox, _ in found]
    parts, y = [], 0.0
    tables = []
    for k, (bbox, rows) in enumerate(found, 1):
        x0, top, x1, bottom = bbox
        parts.append(_band_text(page, y, top, boxes))
        parts.append(table_text(rows, f"Table {k}:", markdown=False))  # its caption is in the band above
        parts.append(_band_text(page, top, bottom, boxes))  # text beside the table, if any
        y = bottom
        tables.append((norm_box(x0, top, x1, bottom, float(page.width), float(page.height)), rows,
                       _caption(page, top)))
    parts.append(_band_text(page, y, float(page.height), boxes))
    return PageTables(tables, "\n".join(p for p in parts if p))


def read_tables(path: Path, figures: bool = False) -> dict[int, PageTables]:
    """Pages (1-based) that hold ruled tables → their tables and their text with the tables as named rows;
    with ``figures``, also the pages that hold figures (:func:`~vimrag.ingest.pdf_figures.page_figures`);
    and the pages whose text layer draws a chart or an unruled table (:mod:`vimrag.ingest.pdf_matrices`).

    A page (or a document) pdfplumber cannot parse is logged and left out: its page items keep pdfium's
    text layer, so a table that cannot be extracted costs structure, not content.
    """
    pdfplumber = require("pdfplumber", "docs")
    out: dict[int, PageTables] = {}
    try:
        with pdfplumber.open(str(path)) as pdf:
            for number, page in enumerate(pdf.pages, 1):
                try:
                    tables = _page_tables(page)
                except Exception as exc:  # pdfminer raises many kinds on odd content streams
                    log.warning("%s page %d: tables not extracted (%s: %s)", path, number, type(exc).__name__, exc)
                    tables = None
                found: list[PageFigure] = []
                pw, ph = float(page.width), float(page.height)
                in_pt = [(a * pw / 1000, b * ph / 1000, c * pw / 1000, d * ph / 1000)
                         for (a, b, c, d), _, _ in (tables.tables if tables else [])]
                if figures:
                    try:
                        found = page_figures(page, in_pt)
                    except Exception as exc:  # as above: the page keeps its text and rendering
                        log.warning("%s page %d: figures not extracted (%s: %s)", path, number,
                                    type(exc).__name__, exc)
                try:
                    # a ruled table is already written as named rows: its words are not read a second time
                    rows = read_matrices([w for w in page.extract_words() if not _inside(w, in_pt)])
                except Exception as exc:  # as above
                    log.warning("%s page %d: charts not read (%s: %s)", path, number, type(exc).__name__, exc)
                    rows = []
                if tables is not None or found or rows:
                    out[number] = tables or PageTables([], "")
                    out[number].figures = found
                    out[number].matrices = rows
    except Exception as exc:  # a document pdfium reads but pdfminer does not: pages keep pdfium's text
        log.warning("%s: tables not extracted (%s: %s)", path, type(exc).__name__, exc)
    return out


def _inside(word: dict[str, Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    """Whether a pdfplumber word's centre lies in one of ``boxes`` (page points)."""
    x, y = (float(word["x0"]) + float(word["x1"])) / 2, (float(word["top"]) + float(word["bottom"])) / 2
    return any(a <= x <= c and b <= y <= d for a, b, c, d in boxes)


def table_items(number: int, page: PageTables, config: IngestConfig) -> Iterator[RawItem]:
    """The table items of one page: cited by page and box; a long table in blocks of rows."""
    for k, (box, rows, caption) in enumerate(page.tables, 1):
        title = f"Table {k} on page {number}" + (f": {caption}" if caption else "")
        for b, (a, z, block) in enumerate(row_blocks(rows, 2 * config.chunk_chars)):
            yield RawItem(Modality.TEXT, Locator(page=number, box=box, chunk=(k - 1) * 1000 + b),
                          text=table_text(block, title),
                          meta={"format": "pdf", "kind": "table", "table": k, "caption": caption,
                                "rows": [a + 1, z + 1], "columns": len(rows[0])})
