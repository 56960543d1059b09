"""Ruled tables of a PDF's text layer (``pdfplumber``: MIT, on pdfminer.six: MIT) as table items.

A page's text layer flattens a table into a run of numbers, and a model reading it picks the wrong column
(issue 15: "how many bicycles did the North region sell in Q3?" → the Total). ``pdfplumber`` finds tables
from the ruling lines and returns their cells; each table becomes a TEXT item (:mod:`vimrag.ingest.tables`)
cited by page **and box** (0–1000 of the page), titled by the line of text just above it (its caption,
usually). The page item stays, for whole-page questions and for the perceiver.

Only tables drawn with lines are found (pdfplumber's "lines" strategy): guessing tables from text
alignment finds many false ones in multi-column prose. Scanned pages have no text layer and no tables
here (their OCR text stays on the page item).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vimrag._extras import require
from vimrag.config import IngestConfig
from vimrag.ingest.base import RawItem
from vimrag.ingest.tables import norm_box, normalize, row_blocks, table_text
from vimrag.types import Locator, Modality

log = logging.getLogger(__name__)

CAPTION_GAP_PT = 40.0  # how far above a table its caption may be


def _caption(page: Any, top: float) -> str:
    above = page.crop((0, max(0.0, top - CAPTION_GAP_PT), page.width, max(0.5, top)), strict=False)
    lines = [ln.strip() for ln in (above.extract_text() or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def pdf_tables(path: Path, config: IngestConfig) -> Iterator[RawItem]:
    """Table items of every page of ``path`` (none when it has no ruled tables).

    A page pdfplumber cannot parse is logged and skipped: the page item already holds its text, so a
    table that cannot be extracted costs structure, not content.
    """
    pdfplumber = require("pdfplumber", "docs")
    with pdfplumber.open(str(path)) as pdf:
        for number, page in enumerate(pdf.pages, 1):
            try:
                found = page.find_tables()
                tables = [(t.bbox, t.extract()) for t in found]
            except Exception as exc:  # pdfminer raises many kinds on odd content streams
                log.warning("%s page %d: tables not extracted (%s: %s)", path, number, type(exc).__name__, exc)
                continue
            for k, (bbox, cells) in enumerate(tables, 1):
                rows = normalize(cells)
                if len(rows) < 2 or len(rows[0]) < 2:
                    continue  # a framed paragraph, not a table
                x0, top, x1, bottom = bbox
                box = norm_box(x0, top, x1, bottom, float(page.width), float(page.height))
                caption = _caption(page, top)
                title = f"Table {k} on page {number}" + (f": {caption}" if caption else "")
                for b, (a, z, block) in enumerate(row_blocks(rows, 2 * config.chunk_chars)):
                    yield RawItem(Modality.TEXT, Locator(page=number, box=box, chunk=(k - 1) * 1000 + b),
                                  text=table_text(block, title),
                                  meta={"format": "pdf", "kind": "table", "table": k, "caption": caption,
                                        "rows": [a + 1, z + 1], "columns": len(rows[0])})
