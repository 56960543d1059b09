"""Spreadsheets (XLSX through ``openpyxl``, MIT) and CSV / TSV (the standard library) as table items.

Each sheet is one table (empty rows and columns dropped); a long one is cut into blocks of rows, each with
the header repeated and a locator naming the sheet and the cell range it covers (``sheet``, ``cells``:
``"A1:F40"``), so a citation points at the rows a number came from. Values are the cached results of
formulas (``data_only``): what the user sees in the sheet, not the formula text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vimrag._extras import require
from vimrag.config import IngestConfig
from vimrag.errors import IngestError
from vimrag.ingest.base import RawItem
from vimrag.ingest.tables import has_header, normalize, row_blocks, table_text
from vimrag.ingest.text import decode_text
from vimrag.types import Locator, Modality

MAX_CELLS = 2_000_000  # per file: a sheet beyond this is refused rather than read into memory


def _column(n: int) -> str:
    """1 → A, 27 → AA."""
    s = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def _items(rows: list[list[str]], sheet: str, first_row: int, width: int, title: str, fmt: str,
           config: IngestConfig, chunk0: int) -> Iterator[RawItem]:
    """Table items of one sheet: row blocks with sheet/range locators (``first_row``: sheet row of rows[0])."""
    header = 1 if has_header(rows) else 0
    for k, (a, b, block) in enumerate(row_blocks(rows, 2 * config.chunk_chars)):
        top = first_row + header + a if a or not header else first_row
        cells = f"A{top}:{_column(width)}{first_row + header + b}"
        yield RawItem(Modality.TEXT, Locator(chunk=chunk0 + k, sheet=sheet, cells=cells),
                      text=table_text(block, f"{title} ({cells})"),
                      meta={"format": fmt, "kind": "table", "sheet": sheet, "rows": [a + 1, b + 1],
                            "columns": len(rows[0])})


class XlsxLoader:
    """Excel workbooks: every sheet's cells as table items (see the module doc)."""

    name: str = "xlsx"
    extensions: tuple[str, ...] = (".xlsx", ".xlsm")

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        openpyxl = require("openpyxl", "docs")
        try:
            wb = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
        except Exception as exc:  # BadZipFile, KeyError, InvalidFileException, lxml errors
            raise IngestError(str(path), f"corrupt or unreadable XLSX: {type(exc).__name__}: {exc}") from exc
        try:
            items: list[RawItem] = []
            cells = 0
            for ws in wb.worksheets:
                raw: list[list[Any]] = []
                for r in ws.iter_rows(values_only=True):
                    cells += len(r)
                    if cells > MAX_CELLS:
                        raise IngestError(str(path), f"spreadsheet too large (over {MAX_CELLS:,} cells)")
                    raw.append(list(r))
                first = next((i for i, r in enumerate(raw) if any(v not in (None, "") for v in r)), None)
                rows = normalize(raw)
                if not rows or first is None:
                    continue
                items += _items(rows, ws.title, first + 1, len(rows[0]), f"Sheet {ws.title}", "xlsx", config,
                                len(items))
        finally:
            wb.close()
        if not items:
            raise IngestError(str(path), "no cells with values in this workbook")
        yield from items


class CsvLoader:
    """CSV / TSV files: one table (delimiter sniffed from the first lines)."""

    name: str = "csv"
    extensions: tuple[str, ...] = (".csv", ".tsv")

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        text = decode_text(path)
        if not text.strip():
            raise IngestError(str(path), "no text (file is blank)")
        try:
            dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
        try:
            raw = list(csv.reader(io.StringIO(text), dialect))
        except csv.Error as exc:
            raise IngestError(str(path), f"malformed CSV: {exc}") from exc
        if sum(len(r) for r in raw) > MAX_CELLS:
            raise IngestError(str(path), f"CSV too large (over {MAX_CELLS:,} cells)")
        rows = normalize(raw)
        if not rows:
            raise IngestError(str(path), "no values in this CSV")
        yield from _items(rows, path.stem, 1, len(rows[0]), path.name, "csv", config, 0)
