"""A bar chart's value labels paired with its category labels, from the OCR boxes of a figure.

OCR reads a chart as loose strings in reading order — "3.5 3.1 3.0 2.7 2.5 2.4 euros 2.0 1.8 million …
Q1 Q2 Q3 Q4" — and a text-only model cannot tell which number belongs to which bar: asked for the
quarter with the lowest revenue, the embedded 1.5B answered "Q4" from such a line (Q1, 1.8). Where the
chart prints its values, the geometry says it: a value label sits over (vertical bars) or beside
(horizontal bars) its bar, in line with the bar's category label on the axis. :func:`read_chart` pairs
them; the figure's text is then its words (title, axis names) and one line, "Values by label: Q1 = 1.8;
Q2 = 2.4; Q3 = 3.1; Q4 = 2.7", instead of the unpaired numbers: shown both, the 1.5B still took a number
from the jumble ("3.1" for Q2).

What it reads, and what it refuses (an unread chart keeps its OCR text only; a wrong pairing would be
worse than none):

- the category axis is the row (vertical bars) or column (horizontal bars) of at least two short labels
  on the far side of the values: below them, or left of them;
- the value axis's ticks (a column or row of three or more numbers in line, outside the categories) are
  not values;
- a line of numbers that includes 0 is a value axis, never the categories, and a reading with named
  categories wins over one with numbered ones;
- each value goes to the category whose centre it is centred on (within 0.15 of the gap between
  neighbouring categories); the chart is read only when every value found a category, every category
  that got a value got exactly one (grouped or stacked bars carry several series, which the labels alone
  cannot name) and at least two did;
- category labels that count (Q1 … Q4, Week 1 … Week 5, 2021 … 2024) with one misread member ("ε3"
  between "Q2" and "Q4") are repaired from their neighbours when its digits fit the count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the module is imported by ingest planning, which must not load numpy and PIL for it
    from vimrag.models.ocr import OcrBox

#: Bump when what :func:`read_chart` (or :mod:`vimrag.ingest.pdf_matrices`) reads changes: sources with
#: figures are read again by the next ingest. 2: a PDF's ruled tables are no longer read a second time as
#: matrices.
CHART_READING_VERSION = 2

_NUMBER = re.compile(r"^[-+−]?[$€£¥]?\s?\d[\d,]*(?:\.\d+)?\s?(?:%|[kKmMbB]n?)?$")
_MAX_LABEL_CHARS = 24
#: How far (in gaps between neighbouring categories) a value label's centre may sit from its category's:
#: a single series' labels are centred on their bars; grouped bars' sit ±0.2 gap or more to the side.
_CENTRED = 0.15


def is_number(text: str) -> bool:
    """A printed value: "3.1", "1,240", "-3", "45%", "$250", "12k"."""
    return bool(_NUMBER.match(" ".join(text.split())))


def _digits(text: str) -> str:
    return re.sub(r"[^\d.]", "", text.replace(",", "")) or "0"


@dataclass(frozen=True)
class _Label:
    index: int  # of its OCR box
    text: str
    along: float  # centre along the category axis (x for vertical bars, y for horizontal ones)
    across: float  # centre across it, growing towards the category labels (y down; −x for horizontal)
    size: float  # extent across, for the tolerance of "in one line"
    length: float = 0.0  # extent along

    @property
    def numeric(self) -> bool:
        return is_number(self.text)


@dataclass(frozen=True)
class ChartReading:
    """A chart's (category, value) pairs in axis order, and the OCR boxes that are neither a number nor a
    category label (title, axis names, notes): what is left to say once the pairs are said."""

    pairs: list[tuple[str, str]]
    other: list[OcrBox]

    @property
    def line(self) -> str:
        return values_text(self.pairs)


def values_text(pairs: Sequence[tuple[str, str]], label: str = "Values by label") -> str:
    """"Values by label: Q1 = 1.8; …", and the highest and lowest when there are three or more numbers: a
    1.5B model asked for the quarter with the lowest revenue named Q4 from the four pairs alone. Also the
    text of a slide's native chart (``vimrag.ingest.office``), one line per series."""
    out = f"{label}: " + "; ".join(f"{c} = {v}" for c, v in pairs)
    nums = [(float(_digits(v)) * (-1 if v.lstrip()[:1] in "-−" else 1), c, v) for c, v in pairs if _NUMBER.match(v)]
    if len(nums) >= 3 and len(nums) == len(pairs):
        hi, lo = max(nums), min(nums)
        if hi[0] != lo[0]:
            out += f" (highest {hi[1]}, {hi[2]}; lowest {lo[1]}, {lo[2]})"
    return out


def read_chart(boxes: Sequence[OcrBox]) -> ChartReading | None:
    """The bar chart these OCR boxes read as, or None (see the module docstring)."""
    readings = [r for r in (_read(_labels(boxes, vertical)) for vertical in (True, False)) if r is not None]
    # a value axis of numbers can pass for categories (a horizontal chart's ticks 0, 10, 20 under its
    # value labels): a reading with named categories wins
    named = [r for r in readings if not all(_NUMBER.match(c) for c, _ in r[0])]
    if not readings:
        return None
    pairs, cats = (named or readings)[0]
    other = [b for i, b in enumerate(boxes) if i not in cats and not _NUMBER.match(" ".join(b.text.split()))]
    return ChartReading(pairs, other)


def _labels(boxes: Sequence[OcrBox], vertical: bool) -> list[_Label]:
    out = []
    for i, b in enumerate(boxes):
        text = " ".join(b.text.split())
        if not text:
            continue
        x0, y0, x1, y1 = b.box
        if vertical:
            out.append(_Label(i, text, (x0 + x1) / 2, (y0 + y1) / 2, y1 - y0, x1 - x0))
        else:
            out.append(_Label(i, text, (y0 + y1) / 2, -(x0 + x1) / 2, x1 - x0, y1 - y0))
    return out


def _lines(labels: Sequence[_Label], key: str, tol: float) -> list[list[_Label]]:
    """Labels grouped by ``key`` ("along" or "across") within ``tol``."""
    groups: list[list[_Label]] = []
    for lab in sorted(labels, key=lambda la: getattr(la, key)):
        if groups and abs(getattr(lab, key) - getattr(groups[-1][-1], key)) <= tol:
            groups[-1].append(lab)
        else:
            groups.append([lab])
    return groups


def _read(labels: list[_Label]) -> tuple[list[tuple[str, str]], set[int]] | None:
    """The pairs and the box indices of the category labels, or None."""
    if len(labels) < 4:
        return None
    tol = max(3.0, 0.5 * sorted(la.size for la in labels)[len(labels) // 2])
    # the category axis: the farthest line of ≥ 2 short labels with numbers on the near side of it
    for line in sorted(_lines(labels, "across", tol), key=lambda g: -g[0].across):
        cats = sorted((piece for la in _split_merged(line, labels, tol) for piece in la
                       if len(piece.text) <= _MAX_LABEL_CHARS), key=lambda la: la.along)
        if len(cats) < 2 or any(la.numeric and float(_digits(la.text)) == 0 for la in cats):
            continue  # a value axis (it starts at 0), not categories
        axis = sum(la.across for la in cats) / len(cats)
        lo, hi = cats[0].along, cats[-1].along
        gap = min(b.along - a.along for a, b in zip(cats, cats[1:], strict=False))
        if gap <= tol:
            continue
        values = _values(labels, line, axis, tol, (lo - gap / 2, hi + gap / 2))
        if not values:
            continue
        got: dict[int, list[_Label]] = {}
        for v in values:
            k = min(range(len(cats)), key=lambda i: abs(cats[i].along - v.along))
            if abs(cats[k].along - v.along) > max(tol, _CENTRED * gap):
                return None  # a number off every category's centre: grouped bars, a legend, a note
            got.setdefault(k, []).append(v)
        if len(got) < 2 or any(len(vs) != 1 for vs in got.values()):
            return None
        names = _repair_sequence([c.text for c in cats])
        return [(names[k], got[k][0].text) for k in sorted(got)], {c.index for c in cats}
    return None


def _values(labels: list[_Label], line: list[_Label], axis: float, tol: float,
            span: tuple[float, float]) -> list[_Label]:
    """The numbers on the near side of a category line at ``axis``, less the value axis's ticks: ≥ 3
    numbers in line along the category axis's direction, outside ``span`` (the categories' extent)."""
    near = [la for la in labels if la.numeric and la.across < axis - tol and la not in line]
    ticks = {id(la) for g in _lines(near, "along", tol) if len(g) >= 3 for la in g
             if not span[0] <= la.along <= span[1]}
    return [la for la in near if id(la) not in ticks]


def _split_merged(line: list[_Label], labels: list[_Label], tol: float) -> list[list[_Label]]:
    """The line's labels, each as the categories it holds: OCR reads neighbouring category labels as one
    box now and then ("Reasoning Error Scoring Error" under two bars); a box with two or more value labels
    centred over it is cut between its words, each word going to the value nearest its estimated centre
    (characters taken as equally wide). A cut that leaves a value without a word keeps the box whole."""
    axis = sum(la.across for la in line) / len(line)
    lo = min(la.along - la.length / 2 for la in line)
    hi = max(la.along + la.length / 2 for la in line)
    values = sorted(_values(labels, line, axis, tol, (lo, hi)), key=lambda la: la.along)
    out = []
    for la in line:
        start = la.along - la.length / 2
        over = [v for v in values if start <= v.along <= start + la.length]
        words = la.text.split(" ")
        if len(over) < 2 or len(words) < len(over):
            out.append([la])
            continue
        px = la.length / max(len(la.text), 1)
        spans, at = [], 0
        for w in words:
            spans.append((start + at * px, start + (at + len(w)) * px))
            at += len(w) + 1
        owner = [min(range(len(over)), key=lambda k: abs(over[k].along - (a + b) / 2)) for a, b in spans]
        if owner != sorted(owner) or len(set(owner)) != len(over):
            out.append([la])
            continue
        pieces = []
        for k in range(len(over)):
            mine = [i for i, o in enumerate(owner) if o == k]
            a, b = spans[mine[0]][0], spans[mine[-1]][1]
            pieces.append(_Label(la.index, " ".join(words[i] for i in mine), (a + b) / 2, la.across, la.size, b - a))
        out.append(pieces)
    return out


_COUNTED = re.compile(r"^(.*?)(\d+)$")


def _repair_sequence(names: list[str]) -> list[str]:
    """Counting labels with one misread member: ["Q1", "Q2", "ε3", "Q4"] → Q3, when the others share a
    prefix and count in one step, and the misread label ends in the number the count expects there."""
    if len(names) < 3:
        return names
    parsed = [_COUNTED.match(n) for n in names]
    for odd in range(len(names)):
        rest = [i for i in range(len(names)) if i != odd]
        found = [parsed[i] for i in rest]
        matched = [m for m in found if m is not None]
        if len(matched) != len(rest) or len({m.group(1) for m in matched}) != 1:
            continue
        own = parsed[odd]
        prefix = matched[0].group(1)
        if own is not None and own.group(1) == prefix:
            return names  # every label counts already
        nums = [int(m.group(2)) for m in matched]
        step, rem = divmod(nums[1] - nums[0], rest[1] - rest[0])
        if step <= 0 or rem or any(n != nums[0] + step * (i - rest[0]) for i, n in zip(rest, nums, strict=True)):
            continue
        expected = str(nums[0] + step * (odd - rest[0]))
        if names[odd].endswith(expected):
            return [f"{prefix}{expected}" if i == odd else n for i, n in enumerate(names)]
    return names
