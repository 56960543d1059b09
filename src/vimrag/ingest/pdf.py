"""PDF loader (pypdfium2, Apache-2.0/BSD): each page becomes a PAGE item = rendered image + its text,
each ruled table a table item and each figure a figure item, cited by page and box
(:mod:`vimrag.ingest.pdf_tables`, :mod:`vimrag.ingest.pdf_figures`).

A page is both a picture (charts, tables, layout: what PolarMem's perceiver verifies concepts on) and text
(its text layer, for the knowledge pathway and z_sem, Eq. 10). Pages without a text layer (scans) are
OCR'd (``vimrag.models.ocr``) when ``IngestConfig.ocr`` is on; the OCR lines' boxes and confidences are kept
in ``meta["ocr_boxes"]``. PyMuPDF is deliberately not used: it is AGPL.

Rendering is at ``IngestConfig.pdf_dpi``, capped so the longest side stays within ``image_max_side``
(a poster-sized page would otherwise allocate gigabytes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vimrag._extras import require
from vimrag.config import IngestConfig
from vimrag.errors import IngestError, MissingExtraError, ModelUnavailableError
from vimrag.ingest.base import RawItem
from vimrag.types import Locator, Modality

log = logging.getLogger(__name__)

MIN_TEXT_CHARS = 8  # a page with fewer non-space text-layer characters counts as having no text layer


def _open(path: Path) -> Any:
    pdfium = require("pypdfium2", "docs")
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise IngestError(str(path), "encrypted PDF: a password is required to open it") from exc
        if code == pdfium.raw.FPDF_ERR_SECURITY:
            raise IngestError(str(path), "encrypted PDF: unsupported security handler") from exc
        raise IngestError(str(path), f"corrupt or unreadable PDF: {exc}") from exc


class PdfLoader:
    """PDF documents: one PAGE item per page (see module doc)."""

    name: str = "pdf"
    extensions: tuple[str, ...] = (".pdf",)

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        doc = _open(path)
        try:
            n = len(doc)
            if n == 0:
                raise IngestError(str(path), "PDF has no pages")
            regions: dict[int, Any] = {}
            if config.pdf_tables or config.pdf_figures:
                from vimrag.ingest.pdf_figures import figure_items
                from vimrag.ingest.pdf_tables import read_tables, table_items

                regions = read_tables(path, figures=config.pdf_figures)
            for i in range(n):
                item = self._page(doc, i, n, path, config)
                found = regions.get(i + 1)
                if found is not None and found.tables and config.pdf_tables:
                    item.text = found.text
                    item.meta["text_source"] = "text_layer+tables"
                if found is not None and found.matrices and config.pdf_tables:
                    # a chart's numbers with their row and column, after the text that has them unpaired; the
                    # rows also in the meta, where the evidence finds the cells a question names
                    sentences = [line for m in found.matrices for line in m.sentences()]
                    item.text = "\n".join([item.text, "Read by row and column.", *sentences])
                    item.meta["matrices"] = [m.table() for m in found.matrices]
                yield item
                if found is not None and config.pdf_tables:
                    yield from table_items(i + 1, found, config)
                if found is not None and found.figures:
                    yield from figure_items(i + 1, found.figures, item.image)
        finally:
            doc.close()

    def _page(self, doc: Any, i: int, n: int, path: Path, config: IngestConfig) -> RawItem:
        try:
            page = doc[i]
        except Exception as exc:  # pdfium raises a bare PdfiumError on a broken page tree
            raise IngestError(str(path), f"cannot read page {i + 1} of {n}: {exc}") from exc
        try:
            w_pt, h_pt = page.get_size()
            scale = config.pdf_dpi / 72.0
            longest = max(w_pt, h_pt) * scale
            if longest > config.image_max_side:
                scale *= config.image_max_side / longest
            image = page.render(scale=scale).to_pil().convert("RGB")
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n").strip()
            finally:
                textpage.close()
        finally:
            page.close()
        meta: dict[str, Any] = {
            "format": "pdf",
            "pages": n,
            "page_size_pt": [round(w_pt, 2), round(h_pt, 2)],
            "text_source": "text_layer",
            "render_scale": round(scale, 6),  # pixels per PDF point: maps OCR boxes back to page coordinates
        }
        if len("".join(text.split())) < MIN_TEXT_CHARS:
            meta["text_source"] = "none"
            if config.ocr:
                try:
                    from vimrag.models.ocr import ocr_image

                    res = ocr_image(image)
                except (MissingExtraError, ModelUnavailableError) as exc:
                    log.warning("%s page %d: no text layer and OCR unavailable: %s", path, i + 1, exc)
                    meta["ocr_error"] = str(exc)
                else:
                    text = res.text
                    meta["text_source"] = f"ocr:{res.engine}"
                    meta["ocr_confidence"] = round(res.mean_confidence, 4)
                    meta["ocr_boxes"] = [
                        {
                            "text": b.text,
                            "confidence": round(b.confidence, 4),
                            "box": [round(v, 1) for v in b.box],
                        }
                        for b in res.boxes
                    ]
        return RawItem(Modality.PAGE, Locator(page=i + 1), text=text, image=image, meta=meta)
