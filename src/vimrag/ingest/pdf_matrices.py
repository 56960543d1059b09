"""Charts and unruled tables drawn in a PDF's text layer, read as rows × columns of numbers.

Reports draw stacked and grouped bar charts as vectors, their labels and values as text (Pew Research's
"Major reason / Minor reason / NOT a reason" bars, a 10-K's unruled columns of figures). pdfium's text
layer gives such a chart as "Not enough timely testing 49 31 19" a few lines under "Major reason Minor
reason NOT a reason", and the embedded 1.5B answered "28%" when asked what share cite timely testing as a
major reason (49). The geometry says which number belongs to which column: :func:`read_matrices` reads

- *rows*: lines of k ≥ 2 numbers (the same k on ≥ 3 rows in a block, evenly enough spaced);
- *the header*: the nearest line above the block, over the numbers' span, that falls into exactly k
  phrases (words split where the gap is wider than a space) — the legend of a stacked bar, the column
  heads of a table; numbers are paired with the phrases in left-to-right order, as a stacked bar's
  segments follow its legend;
- *each row's label*: the words left of its first number in the row's band, the rightmost run of each
  line (a gutter wider than a few spaces ends it, so the body text beside a chart stays out), lines
  joined top to bottom (labels wrap).

Each row becomes a sentence "Not enough timely testing: Major reason = 49, Minor reason = 31, NOT a reason =
19." that the page's text gains. A block without a k-phrase header, or a row without a label, is not read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from vimrag.models.chart_reading import is_number

WORD_GAP_PT = 8.0  # wider than a space between words of one phrase or label line
PHRASE_GAP_PT = 6.0  # wider than a space: a new legend entry or column head
MIN_ROWS = 3
MAX_LABEL_CHARS = 100
HEAD_SLACK_PT = 60.0  # how far beside its column of numbers a head may stand
_ALNUM = re.compile(r"[A-Za-z0-9]")
_LETTER = re.compile(r"[A-Za-z]")  # a head names something: "310* 265**" is a row of values, not heads


@dataclass(frozen=True)
class _Word:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float

    @property
    def cy(self) -> float:
        return (self.top + self.bottom) / 2


def _lines(words: Sequence[_Word], tol: float) -> list[list[_Word]]:
    out: list[list[_Word]] = []
    for w in sorted(words, key=lambda w: w.cy):
        if out and abs(w.cy - out[-1][0].cy) <= tol:
            out[-1].append(w)
        else:
            out.append([w])
    return [sorted(line, key=lambda w: w.x0) for line in out]


def _runs(line: Sequence[_Word], gap: float) -> list[list[_Word]]:
    """A line cut where words are further apart than ``gap``."""
    runs: list[list[_Word]] = []
    for w in line:
        if runs and w.x0 - runs[-1][-1].x1 <= gap:
            runs[-1].append(w)
        else:
            runs.append([w])
    return runs


@dataclass(frozen=True)
class Matrix:
    """A chart or unruled table read from the text layer: its column heads and its (label, values) rows."""

    heads: list[str]
    rows: list[tuple[str, list[str]]]

    def sentences(self) -> list[str]:
        """One sentence per row. The evidence budget keeps whole sentences that hold the question's words
        (``polar.evidence.focus``), so a row's values are not split from its label by ";" or a newline."""
        return [f"{label}: " + ", ".join(f"{_short(h)} = {v}" for h, v in zip(self.heads, vals, strict=True)) + "."
                for label, vals in self.rows]

    def table(self) -> list[list[str]]:
        """Header row then body rows, as a table item's rows (``polar.evidence.question_cells`` reads them)."""
        return [["", *self.heads], *[[label, *vals] for label, vals in self.rows]]


def read_matrices(words: Sequence[dict[str, Any]]) -> list[Matrix]:
    """The matrices found among a page's words (pdfplumber's ``extract_words`` dicts); [] when none reads
    surely (see the module docstring)."""
    ws = [_Word(str(w["text"]), float(w["x0"]), float(w["x1"]), float(w["top"]), float(w["bottom"]))
          for w in words if str(w.get("text", "")).strip()]
    if len(ws) < 8:
        return []
    tol = 0.4 * median(w.bottom - w.top for w in ws)
    numbers = [w for w in ws if is_number(w.text)]
    text = [w for w in ws if not is_number(w.text)]
    # a row's numbers stand alone on their line: a word between two of them means two tables side by side
    # (state, count, state, count) or a sentence, not one row of a matrix
    rows = [r for r in _lines(numbers, tol) if len(r) >= 2
            and not any(abs(w.cy - r[0].cy) <= tol and r[0].x1 < w.x0 and w.x1 < r[-1].x0 for w in text)]
    found = (_read_block(block, text, tol) for block in _blocks(rows))
    return [m for m in found if m is not None]


def _blocks(rows: list[list[_Word]]) -> list[list[list[_Word]]]:
    """Runs of ≥ MIN_ROWS consecutive number rows with the same count, no gap over twice the usual step."""
    blocks: list[list[list[_Word]]] = []
    for row in rows:
        cur = blocks[-1] if blocks else None
        if cur and len(row) == len(cur[-1]):
            steps = [b[0].cy - a[0].cy for a, b in zip(cur, cur[1:], strict=False)]
            step = row[0].cy - cur[-1][0].cy
            if not steps or step <= 2.0 * median(steps) + 1e-6:
                cur.append(row)
                continue
        blocks.append([row])
    return [b for b in blocks if len(b) >= MIN_ROWS]


def _read_block(block: list[list[_Word]], text: list[_Word], tol: float) -> Matrix | None:
    k = len(block[0])
    left = min(w.x0 for r in block for w in r)
    right = max(w.x1 for r in block for w in r)
    step = median(b[0].cy - a[0].cy for a, b in zip(block, block[1:], strict=False))
    first = block[0][0].cy
    # the header: the nearest line above the block, over the numbers, in exactly k phrases
    above = [w for w in text if first - 4 * step <= w.cy < first - step / 2 and w.x1 > left - 40 and w.x0 < right + 40]
    above_lines = _lines(above, tol)
    spans = _header(above_lines)
    if len(spans) != k or not all(_LETTER.search(t) for _, _, t in spans):
        return None
    for j, (a, b, _) in enumerate(spans):  # each head stands over (near) its column of numbers
        col = [(r[j].x0 + r[j].x1) / 2 for r in block]
        if not min(col) - HEAD_SLACK_PT <= (a + b) / 2 <= max(col) + HEAD_SLACK_PT:
            return None
    heads = [t for _, _, t in spans]
    numbers_x0 = min(r[0].x0 for r in block)
    column = _label_column([w for w in text if first - step / 2 <= w.cy < block[-1][0].cy + step / 2
                            and w.x1 <= numbers_x0 + 1])
    # the labels' column must start with the rows: text right above the first row's band there (not the
    # header) is a paragraph running past the rows, i.e. body text beside numbers of a line chart
    height = median(w.bottom - w.top for w in text)
    head_cy = above_lines[-1][0].cy  # a table's stub head ("Dataset") may stand there
    if any(column <= w.x0 and w.x1 <= numbers_x0 + 1 and first - step / 2 - 1.5 * height <= w.cy < first - step / 2
           and abs(w.cy - head_cy) > tol and not any(w.x1 > a and w.x0 < b for a, b, _ in spans) for w in text):
        return None
    out: list[tuple[str, list[str]]] = []
    for i, row in enumerate(block):
        lo = row[0].cy - (step / 2 if i == 0 else (row[0].cy - block[i - 1][0].cy) / 2)
        hi = row[0].cy + (step / 2 if i == len(block) - 1 else (block[i + 1][0].cy - row[0].cy) / 2)
        beside = [w for w in text if lo <= w.cy < hi and column <= w.x0 and w.x1 <= row[0].x0 + 1]
        label = " ".join(" ".join(x.text for x in _runs(line, WORD_GAP_PT)[-1]) for line in _lines(beside, tol))
        if not _ALNUM.search(label) or len(label) > MAX_LABEL_CHARS:
            return None  # no label, or a paragraph rather than a row's name
        out.append((label, [w.text for w in row]))
    return Matrix(heads, out)


def _header(lines: list[list[_Word]]) -> list[tuple[float, float, str]]:
    """The phrases of the nearest line above the block (x-span, text), each with the words of the lines just
    above it that stand over it (a legend entry or column head that wraps: "State and local / governments")."""
    if not lines:
        return []
    heads = [(run[0].x0, run[-1].x1, " ".join(w.text for w in run)) for run in _runs(lines[-1], PHRASE_GAP_PT)]
    height = lines[-1][0].bottom - lines[-1][0].top
    below = lines[-1][0].cy
    for line in reversed(lines[:-1]):
        if below - line[0].cy > 1.6 * height:
            break
        runs = _runs(line, PHRASE_GAP_PT)
        owners = [[k for k, (a, b, _) in enumerate(heads) if run[0].x0 < b and run[-1].x1 > a] for run in runs]
        if any(len(o) != 1 for o in owners):
            break  # a line that does not stand over the heads one by one: a title or a note, not a head
        for run, (k,) in zip(runs, owners, strict=True):
            a, b, t = heads[k]
            heads[k] = (a, b, " ".join(w.text for w in run) + " " + t)
        below = line[0].cy
    return heads


HEAD_CHARS = 48  # a longer legend entry is cut at a word: it is repeated on every row


def _short(head: str) -> str:
    if len(head) <= HEAD_CHARS:
        return head
    return head[: head.rfind(" ", 0, HEAD_CHARS)].rstrip(" ,;") + "…"


GUTTER_PT = 15.0  # an empty column at least this wide separates body text from a chart's labels


def _label_column(words: list[_Word]) -> float:
    """Where the rows' labels start: after the last gutter in the words left of the numbers (body text
    beside a chart ends before it); the leftmost word when there is none."""
    spans = sorted((w.x0, w.x1) for w in words)
    if not spans:
        return 0.0
    start, end = spans[0]
    for a, b in spans[1:]:
        if a - end >= GUTTER_PT:
            start = a
        end = max(end, b)
    return start

