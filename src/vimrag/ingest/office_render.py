"""Slides rendered to pictures by LibreOffice, when it is installed (issue 15).

A slide is a picture as much as text: its chart, layout and emphasis are what a VLM or the perceiver's
layout model reads, and a citation is easier to check against the slide as shown. python-pptx reads the
structure but cannot draw a slide; LibreOffice (MPL-2.0, a program, not a Python package: Debian's
``libreoffice-impress-nogui``) converts the deck to PDF, whose pages pypdfium2 renders at
``IngestConfig.pdf_dpi`` (capped by ``image_max_side``), one picture per slide.

``IngestConfig.office_render``: ``"auto"`` renders when ``soffice`` is on the PATH, ``"never"`` does not.
Every failure (not installed, a timeout, a crash, a page count that does not match the deck) leaves the
slides as layout-free text items and says why in their ``meta["render"]``; it never fails the file.
Each conversion gets its own LibreOffice profile folder, so concurrent ingests do not share (and lock)
one profile.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from vimrag.config import IngestConfig

log = logging.getLogger(__name__)


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def render_slides(path: Path, n_slides: int, config: IngestConfig) -> tuple[list[Image.Image] | None, str]:
    """(one picture per slide, how they were made) or (None, why not)."""
    if config.office_render == "never":
        return None, "none: office_render = never (a layout-free text item)"
    exe = soffice()
    if exe is None:
        return None, "none: LibreOffice is not installed (a layout-free text item)"
    with tempfile.TemporaryDirectory(prefix="vimrag-soffice-") as tmp:
        out = Path(tmp) / "out"
        cmd = [exe, "--headless", "--norestore", f"-env:UserInstallation=file://{tmp}/profile",
               "--convert-to", "pdf", "--outdir", str(out), str(path)]
        try:
            subprocess.run(cmd, capture_output=True, timeout=config.office_render_timeout_s, check=True)
        except subprocess.TimeoutExpired:
            log.warning("%s: LibreOffice did not finish in %.0f s; slides kept as text", path,
                        config.office_render_timeout_s)
            return None, f"none: LibreOffice timed out after {config.office_render_timeout_s:.0f} s"
        except (subprocess.CalledProcessError, OSError) as exc:
            log.warning("%s: LibreOffice failed (%s); slides kept as text", path, exc)
            return None, f"none: LibreOffice failed ({type(exc).__name__})"
        pdfs = list(out.glob("*.pdf"))
        if len(pdfs) != 1:
            return None, "none: LibreOffice wrote no PDF"
        return _render_pdf(pdfs[0], n_slides, config)


def _render_pdf(pdf: Path, n_slides: int, config: IngestConfig) -> tuple[list[Image.Image] | None, str]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    try:
        if len(doc) != n_slides:  # hidden slides, or a deck LibreOffice laid out differently
            return None, f"none: LibreOffice drew {len(doc)} pages for {n_slides} slides"
        pictures = []
        for i in range(len(doc)):
            page = doc[i]
            try:
                w, h = page.get_size()
                scale = config.pdf_dpi / 72.0
                scale = min(scale, config.image_max_side / max(w * scale, h * scale, 1.0) * scale)
                pictures.append(page.render(scale=scale).to_pil().convert("RGB"))
            finally:
                page.close()
    finally:
        doc.close()
    return pictures, "libreoffice"
