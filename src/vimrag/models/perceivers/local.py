"""The embedded closed-set perceiver (``models.perceiver = "local"``): offline PolarMem §3.2.

PolarMem proposes concepts with a VLM and verifies each with an ensemble of yes/no prompts (Eq. 4).
Offline we have no VLM (MODELS.md), so proposal and verification come from closed-set models:

* photos and video frames — the **80 COCO classes are proposed for every image** and verified by the
  SSD detector's per-class max confidence, one score per test-time augmentation (``PolarConfig.tta``;
  the augmentation ensemble plays the role of Eq. 4's template ensemble). Proposing all 80 is what
  lets the partition (Eq. 5–6) say NOT_HAS "person" on a photo of a cup. The ImageNet classifier adds
  its top-5 classes as extra concepts (origin ``"classifier"``) and, optionally, whole-image evidence
  for the COCO class each ImageNet class belongs to (``fuse_classifier``: per augmentation,
  score = max(detector, classifier)).
* pages — the 10 CDLA layout classes with their max box confidence (identity view only: a mirrored
  page is out of the layout model's distribution), so "table" can be NOT_HAS on a page.
* text — OCR (``vimrag.models.ocr``) on photos that look textual (``ocr_photos="auto"``: the classifier
  or detector sees a sign, screen, book, menu …), because OCR costs 0.4–0.9 s per image (far more on a
  dense page); on pages only with ``ocr_pages`` (the PDF loader already OCRs pages without a text layer).

Deviation from the paper, on purpose: the verification scores are detector/classifier confidences, not
P(Yes) of a VLM. Raw, they put present-but-small objects at 0.05–0.3, and the anchored Otsu split of
Eq. 5–6 then calls ~40 % of present (image, class) pairs NOT_HAS on coco128 — fatal for negative
queries. Four measures, chosen on coco128 by a two-fold rule (a safety budget of ≤ 1 % present objects
called NOT_HAS met on both halves, then the most absent objects verified absent; every variant's figures
are in ``benchmarks/coco_perception.py`` and its results JSON):

* calibration s → s**γ (``score_power``, γ = 0.33), which stretches the low range so Otsu's margin
  separates "weak evidence" (UNCERTAIN) from "no evidence" (NOT_HAS);
* margin κ = 2 (``polar.local_kappa``; the paper's 0.5 is kept for the VLM perceiver);
* *absence views* (``polar.absence_views``, default the 3×3 tiles): close-up crops in which the 300-px
  detector sees small objects at ~2× the resolution of the whole image. They do not enter the ensemble
  mean — a max over 9 crops also hallucinates, which would cost HAS precision — they can only veto
  NOT_HAS (:attr:`ConceptScore.veto`);
* the "unanimous" absence rule of the partition (``polar.local_absence``): NOT_HAS needs every ensemble
  score below τ* − δ and no absence view seeing the concept (its score below its own view's Otsu
  threshold, ``polar.local_veto_kappa = 0``).

Together: present objects called NOT_HAS fall from 41 % (paper κ, raw scores) to 0 % / 0.6 % on the two
halves while 79 % / 80 % of absent objects stay verified absent, with HAS precision 0.85 / 0.82, at 11
detector and 2 classifier passes per photo instead of 2 each. The absence views run the detector only:
with the classifier fused there too (9 more passes, 0.2 s a photo) the figures were the same or worse
(absent→NOT_HAS 78.7 % / 80.1 % against 79.0 % / 80.5 %).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from vimrag.errors import ConfigError, MissingExtraError, ModelUnavailableError, VimragError
from vimrag.models.base import ConceptScore, Perception
from vimrag.models.chart_reading import read_chart
from vimrag.models.perceivers.base import augmented_views, check_augmentations, detector_side, to_rgb
from vimrag.models.perceivers.classifier import ImageNetClassifier
from vimrag.models.perceivers.detector import CocoDetector, Detection
from vimrag.models.perceivers.labels import (
    CDLA_CLASSES,
    CDLA_TO_CONCEPT,
    COCO_NAMES,
    TEXT_LIKE_COCO,
    TEXT_LIKE_IMAGENET,
)
from vimrag.models.perceivers.layout import LayoutDetector

# "figure": a chart or picture cut from a document page — one view (no flips, no close-up absence views: a
# chart's objects are not what a negative query is about) and always OCR'd (its labels and values).
KINDS = ("photo", "frame", "page", "figure")
_OCR_MODES = ("always", "auto", "never")


@dataclass(frozen=True)
class LocalPerceiverOptions:
    """Knobs of the closed-set perceiver (the defaults were chosen on coco128, see benchmarks/)."""

    tta: tuple[str, ...] = ("identity", "hflip")  # PolarConfig.tta: one verification score per augmentation
    # PolarConfig.absence_views: augmentations whose scores may only veto NOT_HAS (ConceptScore.veto), not
    # enter the ensemble mean — close-up tiles see small objects, but their max over crops also hallucinates.
    absence_views: tuple[str, ...] = ("tiles3",)
    # ModelsConfig.detector_int8_absence: the absence views on the detector's int8 copy (ssd_int8; ONNX Runtime)
    int8_absence: bool = True
    classifier: bool = True  # run the ImageNet classifier on photos
    classifier_top_k: int = 5  # ImageNet classes proposed per photo
    classifier_min_prob: float = 0.02  # below this a top-k class is noise, not a proposal
    fuse_classifier: bool = True  # COCO score per augmentation = max(detector, classifier evidence)
    box_min_score: float = 0.05  # a COCO concept carries the box of its best detection above this
    ocr: bool = True  # IngestConfig.ocr
    ocr_photos: str = "auto"  # photos: "always" | "auto" (when the image looks textual) | "never"
    # Pages: off by default because the PDF loader already gives each page its text layer or OCR
    # (IngestConfig.ocr); turn on when perceiving rendered pages that come without text.
    ocr_pages: bool = False
    ocr_min_confidence: float = 0.5  # OCR lines below this confidence are dropped
    text_like_threshold: float = 0.5  # detector score of a TEXT_LIKE_COCO class that triggers auto OCR
    detect_on_pages: bool = False  # also run the COCO detector on rendered pages
    # Calibration exponent γ applied to photo scores (s → s**γ) before they leave the perceiver. Detector
    # and classifier confidences of present-but-small objects sit at 0.05–0.3, far below the P(Yes) a VLM
    # would give; γ < 1 stretches that low range so Otsu's threshold and margin (Eq. 5–6) separate "weak
    # evidence" (UNCERTAIN) from "no evidence" (NOT_HAS). Chosen on coco128 (benchmarks/coco_perception.py).
    score_power: float = 0.33

    def __post_init__(self) -> None:
        check_augmentations(self.tta)
        if self.absence_views:
            check_augmentations(self.absence_views)
        if self.ocr_photos not in _OCR_MODES:
            raise ConfigError(f"ocr_photos must be one of {_OCR_MODES}, got {self.ocr_photos!r}")
        if self.classifier_top_k < 0:
            raise ConfigError("classifier_top_k must be ≥ 0")
        if not 0.0 < self.score_power <= 1.0:
            raise ConfigError(f"score_power must be in (0, 1], got {self.score_power}")


class LocalPerceiver:
    """Offline perceiver over the closed-set models; each model is loaded once, on first use.

    >>> p = LocalPerceiver()                                  # doctest: +SKIP
    >>> perc = p.perceive(Image.open("coffee.jpg"))            # doctest: +SKIP
    >>> {c.concept: round(c.score, 2) for c in perc.concepts}["cup"]  # doctest: +SKIP
    0.95
    """

    name = "local"  # PolarConfig.partition_for("local"): the margin and absence rule its scores need

    def __init__(
        self,
        options: LocalPerceiverOptions | None = None,
        *,
        detector: CocoDetector | None = None,
        classifier: ImageNetClassifier | None = None,
        layout: LayoutDetector | None = None,
        ocr: Any = None,
    ) -> None:
        self.options = options or LocalPerceiverOptions()
        self.detector = detector or CocoDetector()
        self.classifier = classifier or ImageNetClassifier()
        self.layout = layout or LayoutDetector()
        self._ocr = ocr  # a callable image → OcrResult; default vimrag.models.ocr.ocr_image
        self.ocr_calls = 0

    @classmethod
    def from_config(cls, config: Any) -> LocalPerceiver:
        """Build from a :class:`vimrag.config.Config` (``polar.tta``, ``ingest.ocr``)."""
        models = config.models
        return cls(
            LocalPerceiverOptions(
                tta=tuple(config.polar.tta),
                absence_views=tuple(config.polar.absence_views),
                ocr=bool(config.ingest.ocr),
                score_power=float(config.polar.local_score_power),
                int8_absence=bool(models.detector_int8_absence),
            ),
            detector=CocoDetector(models.detector_graph or None, models.detector_config or None,
                                  models.detector_runtime, cache=bool(models.detector_cache),
                                  cache_days=float(models.detector_cache_days)),
        )

    @property
    def int8_absence(self) -> bool:
        """Whether the absence views run on the detector's int8 copy: asked for, and on ONNX Runtime (OpenCV
        has no int8 copy and runs them on the network)."""
        return self.options.int8_absence and self.detector.runtime == "onnxruntime"

    def check(self) -> list[tuple[str, str]]:
        """Load each closed-set model now: ``(model name, "")`` when it works, else ``(name, reason)``.

        For ``vimrag models list``: a missing package, a removed runtime API or a corrupt file shows up
        as one line with its reason instead of a traceback in the middle of an ingest.
        """
        rows: list[tuple[str, str]] = []
        for part in (self.detector, self.classifier, self.layout):
            try:
                part.load()
                if part is self.detector and self.int8_absence:
                    self.detector.load(int8=True)  # the close-ups' copy: a broken ranges asset shows here too
                rows.append((part.name, ""))
            except (ModelUnavailableError, MissingExtraError) as exc:
                rows.append((part.name, str(exc)))
        return rows

    # ------------------------------------------------------------------------------------------------
    def perceive(self, image: Image.Image, kind: str = "photo") -> Perception:
        if not isinstance(image, Image.Image):
            raise VimragError(f"perceive() needs a PIL image, got {type(image).__name__}")
        if image.width < 1 or image.height < 1:
            raise VimragError(f"cannot perceive an empty image ({image.width}×{image.height})")
        if kind not in KINDS:
            raise VimragError(f"unknown image kind {kind!r}; known: {', '.join(KINDS)}")
        t0 = time.perf_counter()
        calls0 = (self.detector.calls, self.classifier.calls, self.layout.calls, self.ocr_calls)
        rgb = to_rgb(image)
        concepts: list[ConceptScore] = []
        text_like = False
        if kind == "page":
            concepts += self._layout_concepts(rgb)
        o = self.options
        tta, absence = (("identity",), ()) if kind == "figure" else (tuple(o.tta), tuple(o.absence_views))
        if kind != "page" or self.options.detect_on_pages:
            photo_concepts, text_like = self._photo_concepts(rgb, tta, absence)
            concepts += photo_concepts
        text = ""
        wants_ocr = (
            o.ocr_pages
            if kind == "page"
            else kind == "figure" or o.ocr_photos == "always" or (o.ocr_photos == "auto" and text_like)
        )
        if o.ocr and wants_ocr:
            text = self._read_text(rgb, chart=kind == "figure")
        calls = {
            "detector": self.detector.calls - calls0[0],
            "classifier": self.classifier.calls - calls0[1],
            "layout": self.layout.calls - calls0[2],
            "ocr": self.ocr_calls - calls0[3],
        }
        photo = kind != "page" or o.detect_on_pages
        meta = {
            "perceiver": self.name,
            "kind": kind,
            "tta": list(tta) if photo else ["identity"],
            "absence_views": list(absence) if photo else [],
            "absence_int8": bool(absence) and photo and self.int8_absence,
            "model_calls": calls,
            "seconds": round(time.perf_counter() - t0, 4),
        }
        return Perception(concepts=concepts, text=text, meta=meta)

    # ------------------------------------------------------------------------------------------------
    def _photo_concepts(self, rgb: Image.Image, tta: tuple[str, ...], absence_views: tuple[str, ...]
                        ) -> tuple[list[ConceptScore], bool]:
        o = self.options
        # the absence views go to the detector only: the classifier on 9 close-ups cost 0.2 s a photo and
        # vetoed nothing more
        det, probs, identity_boxes, vdet = self._view_scores(rgb, tta, also=absence_views)
        fused = self._fuse(det, probs)
        veto = self.calibrate(vdet)
        best_box: dict[str, Detection] = {}
        for d in identity_boxes:
            if d.score >= o.box_min_score and (
                d.concept not in best_box or d.score > best_box[d.concept].score
            ):
                best_box[d.concept] = d
        concepts = [
            ConceptScore(
                name,
                [float(s) for s in fused[:, j]],
                best_box[name].box if name in best_box else None,
                "detector",
                [float(s) for s in veto[:, j]],
            )
            for j, name in enumerate(COCO_NAMES)
        ]
        text_like = any(
            float(det[:, COCO_NAMES.index(c)].mean()) >= o.text_like_threshold for c in TEXT_LIKE_COCO
        )
        if o.classifier and o.classifier_top_k > 0:
            cls_concepts = self.classifier_concepts(np.stack(probs))
            concepts += cls_concepts
            text_like = text_like or any(c.concept in TEXT_LIKE_IMAGENET for c in cls_concepts)
        return concepts, text_like

    def _view_scores(
        self, rgb: Image.Image, augmentations: tuple[str, ...], also: tuple[str, ...] = ()
    ) -> tuple[np.ndarray, list[np.ndarray], list[Detection], np.ndarray]:
        """Per augmentation: the detector's per-class max over its views, the classifier's probabilities
        (max over views), the identity view's boxes; and the same detector maxima for ``also`` (the
        absence views, never classified). Every detector pass of the photo goes to the detector at once,
        so it can run them side by side (:meth:`CocoDetector.detect_many`); the absence views on its int8
        copy when ``int8_absence`` is on. The classifier runs meanwhile: 11 passes on two workers leave one
        core idle at the end, and the classifier fills it (32 coco128 photos, 4 interleaved runs each:
        0.453 → 0.431 s a photo end to end)."""
        groups = [(a, augmented_views(rgb, a)) for a in (*augmentations, *also)]
        int8 = self.options.int8_absence
        jobs = [(view, detector_side(a), a == "identity", int8 and k >= len(augmentations))
                for k, (a, views) in enumerate(groups) for view in views]
        with ThreadPoolExecutor(1, thread_name_prefix="vimrag-views") as side:
            pending = side.submit(self.detector.detect_many, jobs)
            probs = [np.max([self.classifier.probabilities(v) for v in views], axis=0)
                     for _, views in groups[: len(augmentations)]] if self.options.classifier else []
            outputs = iter(pending.result())
        det = np.zeros((len(groups), len(COCO_NAMES)), dtype=np.float32)
        identity_boxes: list[Detection] = []
        for a, (aug, views) in enumerate(groups):
            for _ in views:
                out = next(outputs)
                det[a] = np.maximum(det[a], out.scores)
                if aug == "identity":
                    identity_boxes = out.detections
        n = len(augmentations)
        return det[:n], probs, identity_boxes, det[n:]

    def _fuse(self, det: np.ndarray, probs: list[np.ndarray]) -> np.ndarray:
        """Calibrated COCO scores per augmentation: max(detector, classifier evidence) when fusing."""
        fused = det
        if self.options.classifier and self.options.fuse_classifier:
            evidence = np.stack([self.classifier.coco_evidence(p, COCO_NAMES) for p in probs])
            fused = np.maximum(det, evidence)
        return self.calibrate(fused)

    def classifier_concepts(self, probs: np.ndarray) -> list[ConceptScore]:
        """Top-k ImageNet classes by ensemble-mean probability, as concepts (COCO names excluded: those
        are already proposed and verified by the detector; duplicate ImageNet names merged by max)."""
        o = self.options
        mean = probs.mean(axis=0)
        merged: dict[str, np.ndarray] = {}
        for i in np.argsort(-mean):
            if len(merged) >= o.classifier_top_k or mean[i] < o.classifier_min_prob:
                break
            name = self.classifier.labels[int(i)]
            if name in COCO_NAMES:
                continue
            merged[name] = np.maximum(merged[name], probs[:, i]) if name in merged else probs[:, i]
        return [
            ConceptScore(n, [float(s) for s in self.calibrate(v)], None, "classifier")
            for n, v in merged.items()
        ]

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        """s → s**γ (``score_power``): monotone, keeps 0 and 1, so rankings and anchors are unchanged."""
        s = np.clip(np.asarray(scores, dtype=np.float32), 0.0, 1.0)
        return s if self.options.score_power == 1.0 else np.power(s, self.options.score_power)

    def _layout_concepts(self, rgb: Image.Image) -> list[ConceptScore]:
        out = self.layout.detect(rgb)
        best: dict[str, tuple[float, float, float, float]] = {}
        best_s: dict[str, float] = {}
        for b in out.boxes:
            if b.score > best_s.get(b.concept, -1.0):
                best[b.concept], best_s[b.concept] = b.box, b.score
        return [
            ConceptScore(CDLA_TO_CONCEPT[c], [float(out.scores[i])], best.get(CDLA_TO_CONCEPT[c]), "layout")
            for i, c in enumerate(CDLA_CLASSES)
        ]

    def _read_text(self, rgb: Image.Image, chart: bool = False) -> str:
        """The image's OCR text; for a figure (``chart``) also the values its bars carry, paired with their
        category labels (:mod:`vimrag.models.chart_reading`), which the OCR text alone leaves unpaired."""
        ocr = self._ocr
        if ocr is None:
            from vimrag.models.ocr import ocr_image

            ocr = ocr_image
        self.ocr_calls += 1
        res = ocr(rgb, min_confidence=self.options.ocr_min_confidence)
        reading = read_chart(res.boxes) if chart else None
        if reading is None:
            return str(res.text)
        from vimrag.models.ocr import join_lines

        return f"{join_lines(reading.other)}\n{reading.line}".strip()
