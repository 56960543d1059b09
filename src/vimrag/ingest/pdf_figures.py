"""Figures and charts of a PDF page as their own items, cited by page **and box** (issue 15).

A question about a chart ("which quarter had the highest revenue?") is about a region of a page, and a
citation that names the page only leaves the reader to find it. Each embedded picture or vector drawing
large enough to be a figure (not a logo or an icon, not a whole-page scan, nothing on a page without a text layer) becomes an IMAGE item: the crop of the rendered
page (what the perceiver verifies concepts on and OCRs, what a VLM is shown), its caption (the nearest
line below or above that reads like one: "Figure 3", "Fig.", "Chart", …; else the nearest line below),
and the words of the text layer inside its box (a vector chart's axis labels, legend and values). The
page item stays for whole-page questions.

Charts drawn as vector graphics (no embedded picture: a matplotlib PDF, a diagram) are found as clusters
of at least ``MIN_VECTOR_OBJECTS`` drawing objects (curves, rectangles, lines) closer than
``VECTOR_GAP_PT`` to each other, outside the ruled tables, that have a caption reading like one ("Figure
2: …", "Chart …"); the same size limits apply. Found from the same
pdfplumber pass as the ruled tables (:func:`vimrag.ingest.pdf_tables.read_tables`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from PIL import Image

from vimrag.ingest.base import RawItem
from vimrag.ingest.tables import norm_box
from vimrag.types import Locator, Modality

CAPTION_GAP_PT = 40.0  # how far below or above a figure its caption may be
MIN_SIDE = (0.15, 0.08)  # a figure spans at least this share of the page's width and height …
MAX_AREA = 0.8  # … and less than this share of its area (a larger picture is a scanned page)
_CAPTION = re.compile(r"^\s*(figure|fig\.?|chart|graph|diagram|exhibit|plot|image|photo)\s*\d*", re.I)


@dataclass(frozen=True)
class PageFigure:
    box: tuple[float, float, float, float]  # 0–1000 of the page (PolarMem's convention)
    caption: str
    words: str  # the text layer inside the box


def text_lines(page: Any, top: float, bottom: float) -> list[str]:
    """The non-empty text lines of a horizontal band of a pdfplumber page (clipped to the page)."""
    top, bottom = max(0.0, top), min(float(page.height), bottom)
    if bottom - top < 0.5:
        return []
    band = page.crop((0, top, page.width, bottom), strict=False)
    return [ln.strip() for ln in (band.extract_text() or "").splitlines() if ln.strip()]


def _caption(page: Any, top: float, bottom: float) -> str:
    below = text_lines(page, bottom, bottom + CAPTION_GAP_PT)
    above = text_lines(page, top - CAPTION_GAP_PT, top)
    for line in [*below[:2], *reversed(above[-2:])]:
        if _CAPTION.match(line):
            return line
    return below[0] if below else ""


Box = tuple[float, float, float, float]


def _clipped(obj: dict[str, Any], pw: float, ph: float) -> Box:
    """A pdfplumber object's box (points, top-left origin), clipped to the page."""
    return (max(0.0, float(obj["x0"])), max(0.0, float(obj["top"])), min(pw, float(obj["x1"])), min(ph, float(obj["bottom"])))


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(small, 1e-9)


def _merged(boxes: list[Box]) -> list[Box]:
    """Pictures that overlap (one figure drawn as several image pieces, a picture and its soft mask) become
    the union of their boxes."""
    out: list[Box] = []
    for box in boxes:
        while True:
            hit = next((o for o in out if _overlap(o, box) > 0.3), None)
            if hit is None:
                break
            out.remove(hit)
            box = _union(hit, box)
        out.append(box)
    return sorted(out, key=lambda b: (b[1], b[0]))


#: Vector drawing objects closer than this (points) belong to one drawing; a drawing of fewer objects than
#: ``MIN_VECTOR_OBJECTS`` (a rule, a box around a paragraph, an underline) is not a figure.
VECTOR_GAP_PT = 8.0
MIN_VECTOR_OBJECTS = 8
LABEL_PT = 12.0


def _vector_drawings(page: Any, tables: list[Box]) -> list[Box]:
    """Regions of the page drawn with many vector objects (a matplotlib chart, a diagram): clusters of
    curves, rectangles and lines, leaving out ruled tables and page-wide rules."""
    pw, ph = float(page.width), float(page.height)
    boxes: list[Box] = []
    for o in (*page.curves, *page.rects, *page.lines):
        box = _clipped(o, pw, ph)
        if box[2] < box[0] or box[3] < box[1] or (box[2] - box[0] > 0.8 * pw and box[3] - box[1] < 3):
            continue
        if not any(_overlap(box, t) > 0.5 for t in tables):
            boxes.append(box)
    clusters: list[tuple[Box, int]] = []
    g = VECTOR_GAP_PT
    for box in sorted(boxes, key=lambda b: (b[1], b[0])):
        count = 1
        while True:
            near = next((c for c in clusters if box[0] - g <= c[0][2] and c[0][0] <= box[2] + g
                         and box[1] - g <= c[0][3] and c[0][1] <= box[3] + g), None)
            if near is None:
                break
            clusters.remove(near)
            box, count = _union(near[0], box), count + near[1]
        clusters.append((box, count))
    return [box for box, n in clusters if n >= MIN_VECTOR_OBJECTS]


def page_figures(page: Any, tables: list[Box] | None = None) -> list[PageFigure]:
    """The figures of one pdfplumber page, top to bottom (see the module docstring). Pictures mostly inside
    one of ``tables`` (PDF points) are cells of that table, not figures."""
    pw, ph = float(page.width), float(page.height)
    out: list[PageFigure] = []
    if not page.chars:  # no text layer: a scan (or a slide saved as a picture), which the page item is
        return out
    boxes: list[Box] = []
    for im in page.images:
        box = _clipped(im, pw, ph)
        if box[2] > box[0] and box[3] > box[1] and not any(_overlap(box, t) > 0.5 for t in tables or []):
            boxes.append(box)
    # a vector drawing counts only with a caption that says it is one: framed text boxes, forms and
    # unruled tables are drawn with many lines too (MMLongBench's handbook: 8 of 11 pages otherwise)
    # (widened by LABEL_PT left, right and below: tick labels sit outside the axes they label)
    boxes += [(max(0.0, b[0] - LABEL_PT), b[1], min(pw, b[2] + LABEL_PT), min(ph, b[3] + LABEL_PT))
              for b in _vector_drawings(page, tables or []) if _CAPTION.match(_caption(page, b[1], b[3]))]
    for x0, top, x1, bottom in _merged(boxes):
        w, h = x1 - x0, bottom - top
        if w < MIN_SIDE[0] * pw or h < MIN_SIDE[1] * ph or w * h >= MAX_AREA * pw * ph:
            continue
        inside = page.crop((x0, top, x1, bottom), strict=False).extract_text() or ""
        words = " ".join(inside.split())
        out.append(PageFigure(norm_box(x0, top, x1, bottom, pw, ph), _caption(page, top, bottom), words))
    return out


def figure_items(number: int, figures: list[PageFigure], page_image: Image.Image | None) -> Iterator[RawItem]:
    """The figure items of one page: the crop of the page's rendering, cited by page and box."""
    for k, fig in enumerate(figures, 1):
        crop = None
        if page_image is not None:
            w, h = page_image.size
            x0, y0, x1, y1 = fig.box
            crop = page_image.crop((round(x0 * w / 1000), round(y0 * h / 1000),
                                    round(x1 * w / 1000), round(y1 * h / 1000)))
        title = f"Figure {k} on page {number}" + (f": {fig.caption}" if fig.caption else "")
        text = title + (f"\nText in the figure: {fig.words}" if fig.words else "")
        yield RawItem(Modality.IMAGE, Locator(page=number, box=fig.box), text=text, image=crop,
                      meta={"format": "pdf", "kind": "figure", "figure": k, "caption": fig.caption})
