from __future__ import annotations

from pathlib import Path

import pytest

from vimrag.config import IngestConfig
from vimrag.errors import IngestError
from vimrag.ingest.pdf import PdfLoader
from vimrag.ingest.registry import iter_items
from vimrag.types import Modality


def test_pages_rendered_with_text_layer(doc_dir: Path) -> None:
    items = list(PdfLoader().load(doc_dir / "two_pages.pdf", IngestConfig(ocr=False, pdf_dpi=72)))
    assert [it.locator.page for it in items] == [1, 2]
    assert all(it.modality == Modality.PAGE and it.meta["pages"] == 2 for it in items)
    assert "1,240 bicycles" in items[0].text
    assert items[0].meta["text_source"] == "text_layer"
    assert items[0].image is not None and abs(items[0].image.width - 595) <= 2  # A4 at 72 dpi
    assert items[1].text == "" and items[1].meta["text_source"] == "none"  # image-only page, OCR off


def test_render_respects_max_side(doc_dir: Path) -> None:
    (first, _) = list(
        PdfLoader().load(doc_dir / "two_pages.pdf", IngestConfig(ocr=False, pdf_dpi=600, image_max_side=500))
    )
    assert max(first.image.size) <= 501


@pytest.mark.slow
def test_image_only_page_is_ocrd(doc_dir: Path) -> None:
    items = list(PdfLoader().load(doc_dir / "two_pages.pdf", IngestConfig(ocr=True)))
    page2 = items[1]
    assert page2.meta["text_source"].startswith("ocr:")
    assert "INVOICE" in page2.text.upper() and "4711" in page2.text
    assert page2.meta["ocr_boxes"] and 0 < page2.meta["ocr_confidence"] <= 1
    assert items[0].meta["text_source"] == "text_layer"  # a page with text is not OCR'd


@pytest.mark.parametrize(("name", "reason"), [("encrypted.pdf", "encrypted PDF"), ("truncated.pdf", "PDF")])
def test_bad_pdfs(doc_dir: Path, name: str, reason: str) -> None:
    with pytest.raises(IngestError, match=reason):
        list(iter_items(doc_dir / name, IngestConfig(ocr=False)))
