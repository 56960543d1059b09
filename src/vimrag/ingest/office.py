"""Word and PowerPoint files (``python-docx``, ``python-pptx``: MIT), read by their structure.

* **DOCX**: paragraphs grouped under their heading path and chunked like Markdown (a chunk never spans
  two sections); each table is a table item (:mod:`vimrag.ingest.tables`); each embedded picture is an
  IMAGE item that the perceiver verifies like a photo. Locators number the items (``chunk``): a DOCX has
  no pages until it is laid out.
* **PPTX**: one item per slide (``page`` = slide number) with its title, text in reading order (top to
  bottom, left to right), tables, native charts (their own data, one line per series) and speaker notes;
  each table and chart again as its own item and each picture as an IMAGE item, all with the shape's
  ``box`` on the slide (0–1000) and a ``chunk`` number that keeps their ids apart. With LibreOffice installed each slide is also **drawn** (:mod:`vimrag.ingest.office_render`)
  and its item is a PAGE with that picture; without it the slides are **layout-free text items** (each says
  which in ``meta["render"]``), and a picture on a slide is still seen through its own item.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vimrag._extras import require
from vimrag.config import IngestConfig
from vimrag.errors import IngestError
from vimrag.ingest.base import RawItem
from vimrag.ingest.image import load_image
from vimrag.ingest.tables import norm_box, normalize, row_blocks, table_text
from vimrag.ingest.text import Section, chunk_sections
from vimrag.types import Locator, Modality

log = logging.getLogger(__name__)

MIN_PICTURE_PX = 48  # smaller embedded pictures are icons and bullets, not evidence
_HEADING_LEVEL = re.compile(r"^(?:heading|título|titre|überschrift)\s*(\d)", re.I)


def _open_zip_doc(opener: Any, path: Path, kind: str) -> Any:
    try:
        return opener(str(path))
    except Exception as exc:  # python-docx/pptx raise PackageNotFoundError, KeyError, BadZipFile, lxml errors
        raise IngestError(str(path), f"corrupt or unreadable {kind}: {type(exc).__name__}: {exc}") from exc


def _picture(blob: bytes, ext: str, path: Path, config: IngestConfig) -> Any:
    """An embedded picture as an oriented, bounded RGB image, or None (unreadable, or an icon)."""
    with tempfile.NamedTemporaryFile(suffix=ext) as tmp:
        tmp.write(blob)
        tmp.flush()
        try:
            img, meta = load_image(Path(tmp.name), config)
        except IngestError as exc:
            log.warning("%s: an embedded picture is skipped: %s", path, exc.args[-1] if exc.args else exc)
            return None
    return img if min(img.size) >= MIN_PICTURE_PX else None


def _table_items(rows: list[list[str]], title: str, locator: dict[str, Any], meta: dict[str, Any],
                 config: IngestConfig, first_chunk: int) -> list[RawItem]:
    """A table as one or more TEXT items (blocks of rows with the header repeated)."""
    out = []
    for k, (a, b, block) in enumerate(row_blocks(rows, 2 * config.chunk_chars)):
        loc = Locator(**{**locator, **({"chunk": first_chunk + k} if "chunk" in locator else {})})
        out.append(RawItem(Modality.TEXT, loc, text=table_text(block, title),
                           meta={**meta, "kind": "table", "rows": [a + 1, b + 1], "columns": len(rows[0])}))
    return out


class DocxLoader:
    """Word documents (see the module doc)."""

    name: str = "docx"
    extensions: tuple[str, ...] = (".docx",)

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        docx = require("docx", "docs")
        doc = _open_zip_doc(docx.Document, path, "DOCX")
        heads: list[tuple[int, str]] = []
        sections: list[Section] = []
        tables: list[tuple[tuple[str, ...], list[list[str]]]] = []
        paras: list[str] = []
        offset = 0

        def flush() -> None:
            nonlocal offset, paras
            text = "\n\n".join(p for p in paras if p)
            if text.strip():
                sections.append(Section(tuple(h for _, h in heads), text, offset))
                offset += len(text) + 2
            paras = []

        for block in doc.iter_inner_content():
            if isinstance(block, docx.table.Table):
                rows = normalize([[c.text for c in r.cells] for r in block.rows])
                if rows:
                    tables.append((tuple(h for _, h in heads), rows))
                continue
            text = block.text.strip()
            style = (block.style.name if block.style is not None else "") or ""
            m = _HEADING_LEVEL.match(style)
            level = 0 if style.lower() == "title" else int(m.group(1)) if m else None
            if level is not None and text:
                flush()
                heads = [h for h in heads if h[0] < level] + [(level, text)]
                paras = [text]
            elif text:
                paras.append(text)
        flush()
        items = list(chunk_sections(sections, config, source_kind="docx"))
        for item in items:
            item.meta["kind"] = "section"
        n = len(items)
        for k, (headings, rows) in enumerate(tables, 1):
            title = " › ".join([*headings, f"Table {k}"])
            made = _table_items(rows, title, {"chunk": n}, {"format": "docx", "table": k, "headings": list(headings)},
                                config, n)
            items += made
            n += len(made)
        for rel in doc.part.rels.values():
            if rel.reltype.endswith("/image") and not rel.is_external:
                part = rel.target_part
                img = _picture(part.blob, Path(str(part.partname)).suffix, path, config)
                if img is not None:
                    items.append(RawItem(Modality.IMAGE, Locator(chunk=n), text="", image=img,
                                         meta={"format": "docx", "kind": "picture", "part": str(part.partname)}))
                    n += 1
        if not items:
            raise IngestError(str(path), "no text, table or picture in this DOCX")
        yield from items


def _shapes(shapes: Any) -> Iterator[Any]:
    """Every shape, group members included, in reading order (top to bottom, then left to right)."""
    flat: list[Any] = []

    def walk(group: Any) -> None:
        for s in group:
            if getattr(s, "shape_type", None) == 6:  # MSO_SHAPE_TYPE.GROUP
                walk(s.shapes)
            else:
                flat.append(s)

    walk(shapes)
    yield from sorted(flat, key=lambda s: ((s.top or 0) // 100_000, s.left or 0))


def _chart_text(chart: Any, path: Path) -> str:
    """A slide's native chart by its own data: "Chart: <title> (column clustered)" and one line per series,
    "Revenue: Q1 = 1.8; Q2 = 2.4 …" (``models.chart_reading.values_text``). Exact where a rendering would
    need OCR and pairing, and there even without LibreOffice. A chart python-pptx cannot read is skipped
    with a warning, the slide's other shapes still go in."""
    from vimrag.models.chart_reading import values_text

    try:
        title = chart.chart_title.text_frame.text.strip() if chart.has_title else ""
        kind = getattr(chart.chart_type, "name", str(chart.chart_type)).lower().replace("_", " ")
        series = []
        for plot in chart.plots:
            cats = [" ".join(str(c).split()) for c in plot.categories]
            for k, ser in enumerate(plot.series, 1):
                pairs = [(c or str(i + 1), f"{v:g}") for i, (c, v) in enumerate(zip(cats, ser.values, strict=False))
                         if v is not None]
                if pairs:
                    series.append(values_text(pairs, ser.name or f"Series {k}"))
    except (AttributeError, KeyError, ValueError, TypeError, NotImplementedError) as exc:
        log.warning("%s: a chart is skipped: %s", path, exc)
        return ""
    return "\n".join([f"Chart{': ' + title if title else ''} ({kind})", *series]) if series else ""


class PptxLoader:
    """PowerPoint decks (see the module doc)."""

    name: str = "pptx"
    extensions: tuple[str, ...] = (".pptx",)

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        pptx = require("pptx", "docs")
        prs = _open_zip_doc(pptx.Presentation, path, "PPTX")
        w, h = float(prs.slide_width or 1), float(prs.slide_height or 1)
        n_slides = len(prs.slides)
        if n_slides == 0:
            raise IngestError(str(path), "no slides in this PPTX")
        from vimrag.ingest.office_render import render_slides

        pictures, render = render_slides(path, n_slides, config)
        for no, slide in enumerate(prs.slides, 1):
            title_shape = slide.shapes.title
            title = title_shape.text_frame.text.strip() if title_shape is not None else ""
            title_id = title_shape.shape_id if title_shape is not None else None
            lines: list[str] = []
            extra: list[RawItem] = []
            n_tables = n_charts = 0
            for s in _shapes(slide.shapes):
                box = norm_box(s.left or 0, s.top or 0, (s.left or 0) + (s.width or 0), (s.top or 0) + (s.height or 0), w, h)
                if getattr(s, "has_table", False) and s.has_table:
                    rows = normalize([[c.text for c in r.cells] for r in s.table.rows])
                    if rows:
                        n_tables += 1
                        ttl = f"Slide {no}{': ' + title if title else ''} › Table {n_tables}"
                        lines.append(table_text(rows))
                        extra += _table_items(rows, ttl, {"page": no, "box": box, "chunk": len(extra)},
                                              {"format": "pptx", "slide": no, "table": n_tables}, config, len(extra))
                elif getattr(s, "has_chart", False) and s.has_chart:
                    text = _chart_text(s.chart, path)
                    if text:
                        n_charts += 1
                        lines.append(text)
                        ttl = f"Slide {no}{': ' + title if title else ''} › Chart {n_charts}"
                        extra.append(RawItem(Modality.TEXT, Locator(page=no, box=box, chunk=len(extra)),
                                             text=f"{ttl}\n{text}",
                                             meta={"format": "pptx", "kind": "chart", "slide": no, "chart": n_charts}))
                elif getattr(s, "shape_type", None) == 13:  # MSO_SHAPE_TYPE.PICTURE
                    img = _picture(s.image.blob, "." + s.image.ext, path, config)
                    if img is not None:
                        extra.append(RawItem(Modality.IMAGE, Locator(page=no, box=box, chunk=len(extra)), text=title, image=img,
                                             meta={"format": "pptx", "kind": "picture", "slide": no}))
                elif s.shape_id != title_id and getattr(s, "has_text_frame", False) and s.has_text_frame:
                    text = "\n".join(p.text.strip() for p in s.text_frame.paragraphs if p.text.strip())
                    if text:
                        lines.append(text)
            notes = ""
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = slide.notes_slide.notes_text_frame.text.strip()
            body = "\n".join([f"Slide {no} of {n_slides}" + (f": {title}" if title else ""), *lines,
                              *([f"Speaker notes: {notes}"] if notes else [])])
            picture = pictures[no - 1] if pictures is not None else None
            # a drawn slide is a page (the perceiver reads its layout); without LibreOffice, text only
            yield RawItem(Modality.PAGE if picture is not None else Modality.TEXT, Locator(page=no), text=body,
                          image=picture, meta={"format": "pptx", "kind": "slide", "slide": no, "title": title,
                                               "render": render})
            yield from extra
