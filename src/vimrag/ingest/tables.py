"""Tables as text that both a small model and a keyword search can read, whatever file they came from
(a PDF's ruled table, a DOCX or PPTX table, a spreadsheet, a CSV).

A table item's text is its title, one sentence per row that names each cell by its column ("North: Q1 =
980; Q2 = 1,105; Q3 = 1,240."), and the Markdown table with its header: a 1.5B model reading a flattened
text layer picks the wrong column (the demo's bicycles question was answered from the Total column), but
it reads a named cell. Cell values are kept exactly as the document prints them (numbers are not
reformatted). Long tables are cut into blocks of rows, each with the header repeated.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator, Sequence
from typing import Any

_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"^[-+]?[\d.,\s%€$£]+$")


def cell_text(value: Any) -> str:
    """One cell as text: whitespace collapsed, ``|`` escaped for Markdown, integral floats without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    return _SPACE.sub(" ", str(value)).strip().replace("|", "\\|")


def normalize(rows: Sequence[Sequence[Any]]) -> list[list[str]]:
    """Rows of text with empty rows and columns dropped and every row padded to the same width."""
    text = [[cell_text(v) for v in row] for row in rows]
    text = [r for r in text if any(r)]
    if not text:
        return []
    width = max(len(r) for r in text)
    text = [r + [""] * (width - len(r)) for r in text]
    keep = [j for j in range(width) if any(r[j] for r in text)]
    return [[r[j] for j in keep] for r in text]


def has_header(rows: list[list[str]]) -> bool:
    """The first row is a header when every cell is filled and none is a bare number."""
    return len(rows) > 1 and all(rows[0]) and not any(_NUMBER.match(c) for c in rows[0])


def table_text(rows: list[list[str]], title: str = "", markdown: bool = True) -> str:
    """Title, one named sentence per row, then the Markdown table (see the module doc). The named rows come
    first because evidence shown to a model is cut to a few hundred characters: they are what a small
    model reads right; the Markdown keeps the grid for larger models and for people."""
    if not rows:
        return title
    header = rows[0] if has_header(rows) else [f"column {j + 1}" for j in range(len(rows[0]))]
    body = rows[1:] if has_header(rows) else rows
    named = []
    for r in body:
        cells = "; ".join(f"{h} = {v}" for h, v in zip(header[1:], r[1:], strict=True) if v)
        named.append(f"{r[0] or '(row)'}: {cells}." if cells else f"{r[0]}.")
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] if markdown else []
    md += ["| " + " | ".join(r) + " |" for r in body] if markdown else []
    parts = [title] if title else []
    return "\n".join([*parts, *named, "", *md]).strip()


def row_blocks(rows: list[list[str]], max_chars: int) -> Iterator[tuple[int, int, list[list[str]]]]:
    """Blocks of at most about ``max_chars`` of table text: ``(first, last, rows)`` with body row indices
    (0-based, header excluded) and the header repeated at the top of each block."""
    if not rows:
        return
    head = [rows[0]] if has_header(rows) else []
    body = rows[len(head):]
    start, size = 0, 0
    for i, r in enumerate(body):
        n = 2 * sum(len(c) + 3 for c in r)  # the Markdown row and the named line
        if i > start and size + n > max_chars:
            yield start, i - 1, head + body[start:i]
            start, size = i, 0
        size += n
    yield start, len(body) - 1, head + body[start:]


def norm_box(x0: float, y0: float, x1: float, y1: float, width: float,
             height: float) -> tuple[float, float, float, float]:
    """A box in page units → PolarMem's 0–1000 normalised ``(x1, y1, x2, y2)``, clamped to the page."""
    def n(v: float, size: float) -> float:
        return round(min(1000.0, max(0.0, 1000.0 * v / size)), 1) if size > 0 else 0.0

    return (n(x0, width), n(y0, height), n(x1, width), n(y1, height))
