"""Optical character recognition for pages without a text layer and for text inside images.

Default backend: RapidOCR 3.x (PP-OCRv6 det/rec + the v2.0 direction classifier, ONNX files shipped inside
the ``rapidocr`` wheel, Apache-2.0). RapidOCR resolves models by name and may try to download ones it lacks,
so we pass the packaged files' paths explicitly: nothing is fetched, and a missing file is a clear
:class:`ModelUnavailableError`. Fallback: the ``tesseract`` command (Debian ``tesseract-ocr``), weaker but
light. The engine is built once per process (lazy, thread-safe) because loading costs about a second.

The recognised lines' confidences feed the closed-set perceiver's OCR evidence (PolarMem Eq. 4 analogue for
text concepts); ``text`` feeds the hybrid semantic vector z_sem (Eq. 10).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vimrag.errors import MissingExtraError, ModelUnavailableError
from vimrag.models._quiet import quiet_loading, quiet_third_party_logs

_RAPID_FILES = {
    "Det.model_path": "PP-OCRv6_det_small.onnx",
    "Rec.model_path": "PP-OCRv6_rec_small.onnx",
    "Cls.model_path": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}


@dataclass(frozen=True)
class OcrBox:
    """One recognised line: its text, confidence in [0, 1] and axis-aligned box (x0, y0, x1, y1) in pixels."""

    text: str
    confidence: float
    box: tuple[float, float, float, float]


@dataclass
class OcrResult:
    text: str
    boxes: list[OcrBox] = field(default_factory=list)
    engine: str = ""

    @property
    def mean_confidence(self) -> float:
        return float(np.mean([b.confidence for b in self.boxes])) if self.boxes else 0.0


class _RapidEngine:
    name = "rapidocr"

    def __init__(self) -> None:
        spec = importlib.util.find_spec("rapidocr")
        if spec is None or not spec.submodule_search_locations:
            raise MissingExtraError("rapidocr is not installed. Install it with: pip install 'vimrag[local]'")
        models = Path(next(iter(spec.submodule_search_locations))) / "models"
        params: dict[str, Any] = {"Global.log_level": "error"}
        for key, fname in _RAPID_FILES.items():
            p = models / fname
            if not p.is_file():
                raise ModelUnavailableError(
                    f"RapidOCR model file missing: {p}. Reinstall with: pip install --force-reinstall rapidocr==3.10.0"
                )
            params[key] = str(p)
        from rapidocr import RapidOCR

        with quiet_loading():
            self._engine = RapidOCR(params=params)
        # "The text detection result is empty" for every photo without text is not a warning for us (and
        # it printed ANSI colour codes on stderr under --json): only RapidOCR's errors get through.
        quiet_third_party_logs(logging.ERROR, ("rapidocr", "RapidOCR"))
        self._lock = threading.Lock()

    def __call__(self, img: Image.Image) -> OcrResult:
        arr = np.asarray(img.convert("RGB"))
        with self._lock:  # onnxruntime sessions are thread-safe, RapidOCR's pre/post-processing state is not
            out: Any = self._engine(arr)
        boxes = []
        for txt, score, quad in zip(
            out.txts or (), out.scores or (), out.boxes if out.boxes is not None else (), strict=False
        ):
            q = np.asarray(quad, dtype=float)
            boxes.append(
                OcrBox(str(txt), float(score), (q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()))
            )
        return OcrResult(join_lines(boxes), boxes, self.name)


class _TesseractEngine:
    name = "tesseract"

    def __init__(self) -> None:
        exe = shutil.which("tesseract")
        if exe is None:
            raise MissingExtraError(
                "no OCR engine: install rapidocr (pip install 'vimrag[local]') or Debian's tesseract-ocr"
            )
        self._exe = exe

    def __call__(self, img: Image.Image) -> OcrResult:
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="PNG")
        proc = subprocess.run(
            [self._exe, "stdin", "stdout", "tsv"], input=buf.getvalue(), capture_output=True, timeout=120
        )
        if proc.returncode != 0:
            raise ModelUnavailableError(f"tesseract failed: {proc.stderr.decode(errors='replace')[-300:]}")
        lines: dict[tuple[int, int, int], list[tuple[str, float, tuple[float, float, float, float]]]] = {}
        for row in csv.DictReader(io.StringIO(proc.stdout.decode(errors="replace")), delimiter="\t"):
            word = (row.get("text") or "").strip()
            conf = float(row.get("conf") or -1)
            if not word or conf < 0:
                continue
            x, y, w, h = (float(row[k]) for k in ("left", "top", "width", "height"))
            key = (int(row["block_num"]), int(row["par_num"]), int(row["line_num"]))
            lines.setdefault(key, []).append((word, conf / 100.0, (x, y, x + w, y + h)))
        boxes = []
        for words in lines.values():
            xs0, ys0, xs1, ys1 = zip(*(b for _, _, b in words), strict=False)
            boxes.append(
                OcrBox(
                    " ".join(w for w, _, _ in words),
                    float(np.mean([c for _, c, _ in words])),
                    (min(xs0), min(ys0), max(xs1), max(ys1)),
                )
            )
        return OcrResult(join_lines(boxes), boxes, self.name)


def join_lines(boxes: list[OcrBox]) -> str:
    """Reading order: top-to-bottom by line, then left-to-right (lines whose centres are close share a row)."""
    if not boxes:
        return ""
    heights = [b.box[3] - b.box[1] for b in boxes]
    tol = max(4.0, 0.5 * float(np.median(heights)))
    ordered = sorted(boxes, key=lambda b: ((b.box[1] + b.box[3]) / 2, b.box[0]))
    rows: list[list[OcrBox]] = []
    for b in ordered:
        cy = (b.box[1] + b.box[3]) / 2
        if rows and abs(cy - (rows[-1][0].box[1] + rows[-1][0].box[3]) / 2) <= tol:
            rows[-1].append(b)
        else:
            rows.append([b])
    return "\n".join(" ".join(b.text for b in sorted(r, key=lambda b: b.box[0])) for r in rows)


_engines: dict[str, _RapidEngine | _TesseractEngine] = {}
_engine_lock = threading.Lock()


def get_engine(prefer: str = "rapidocr") -> _RapidEngine | _TesseractEngine:
    """The process-wide OCR engine (built on first use): ``"rapidocr"`` (falls back to tesseract when the
    package is missing) or ``"tesseract"``."""
    if prefer not in ("rapidocr", "tesseract"):
        raise ValueError(f"unknown OCR engine {prefer!r}; use 'rapidocr' or 'tesseract'")
    with _engine_lock:
        if prefer not in _engines:
            if prefer == "tesseract":
                _engines[prefer] = _TesseractEngine()
            else:
                try:
                    _engines[prefer] = _RapidEngine()
                except MissingExtraError:
                    _engines[prefer] = _TesseractEngine()
        return _engines[prefer]


def ocr_image(img: Image.Image, *, engine: str = "rapidocr", min_confidence: float = 0.0) -> OcrResult:
    """Recognise the text in ``img``; lines below ``min_confidence`` are dropped from ``text`` and ``boxes``."""
    res = get_engine(engine)(img)
    if min_confidence > 0:
        kept = [b for b in res.boxes if b.confidence >= min_confidence]
        res = OcrResult(join_lines(kept), kept, res.engine)
    return res
