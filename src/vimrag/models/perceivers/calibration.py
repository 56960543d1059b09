"""Per-class calibration of the closed-set verification scores into probabilities (issue 16, a deviation).

PolarMem's verification score s_c (Eq. 4) is a VLM's P(Yes): a probability that the concept is there. The
embedded perceiver's scores are SSD / classifier confidences instead, and their meaning differs by class:
a handbag at 0.2 is usually a real (small, hard) handbag, a person at 0.2 usually nothing. Ranking items by
how sure it is that they have A and lack B needs numbers that mean the same for every class. Platt
scaling per class maps the stored score onto P(present), the quantity a VLM's P(Yes) estimates:

    p = σ(a_c + b_c · logit(s))

fitted by maximum likelihood on labelled photos (COCO labels every instance of its 80 classes, so every
(image, class) pair has a truth). Most classes have few positives in a small fit set, so each class's
(a_c, b_c) is shrunk towards one global fit (a Gaussian prior, weight ``l2``): a class with no examples
gets the global curve, a well-populated one its own. A weak class (many present objects at low scores)
gets a curve that keeps low scores at a middling probability: a photo is not taken as surely free of
handbags because the detector saw none.

The curve maps the score the perceiver stores for a COCO concept — the ensemble mean s_c of Eq. 4 over
the views of ``polar.tta`` with the ``polar.local_score_power`` calibration — so it applies only to stores
perceived with the settings it was fitted for (:meth:`Calibration.matches`); the retriever uses it to rank
items inside a logic tier by P(the item satisfies the query) (``vimrag.polar.ranking``). The partition
itself keeps its measured inputs: Otsu on these probabilities called 20–30 % of present objects NOT_HAS
on coco128 (most probabilities crowd near 0, so σ_w and the margin shrink), against ≤ 0.6 % today.
The fitted table ships with the package (``models/assets/coco_calibration.json``); how it was fitted and
on what is in its ``meta`` and in ``docs/design-notes.md`` (``benchmarks/coco_perception.py --fit``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from vimrag.errors import ModelUnavailableError

CALIBRATION_ASSET = "coco_calibration.json"
_EPS = 1e-4


def logit(s: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(s, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(x) - np.log1p(-x)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


@dataclass(frozen=True)
class PlattTable:
    """Per-class (a, b) of one kind of view; columns follow the class list it was fitted on."""

    a: np.ndarray  # (n_classes,)
    b: np.ndarray  # (n_classes,)

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities for ``scores`` of shape (..., n_classes)."""
        return _sigmoid(self.a + self.b * logit(scores)).astype(np.float32)


@dataclass(frozen=True)
class Calibration:
    """The shipped calibration: class names, their Platt curves, and the settings and data it was fitted on."""

    classes: tuple[str, ...]
    table: PlattTable
    meta: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, scores: Mapping[str, float]) -> dict[str, float]:
        """P(present) for stored concept scores of known classes (others are left out)."""
        col = {c: i for i, c in enumerate(self.classes)}
        out = {}
        for name, s in scores.items():
            j = col.get(name)
            if j is not None:
                out[name] = float(_sigmoid(self.table.a[j] + self.table.b[j] * logit(np.asarray(s))))
        return out

    def matches(self, polar: Any) -> bool:
        """Were the stored scores made with the settings the curves were fitted for (γ, views)?"""
        m = self.meta
        return (abs(float(getattr(polar, "local_score_power", -1)) - float(m.get("score_power", -2))) < 1e-9
                and list(getattr(polar, "tta", ())) == list(m.get("tta", [])))

    def to_json(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "meta": self.meta,
                "a": [round(float(x), 5) for x in self.table.a], "b": [round(float(x), 5) for x in self.table.b]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Calibration:
        classes = tuple(d["classes"])
        table = PlattTable(np.asarray(d["a"], dtype=np.float64), np.asarray(d["b"], dtype=np.float64))
        if table.a.shape != (len(classes),) or table.b.shape != (len(classes),):
            raise ModelUnavailableError(f"the calibration table does not match its {len(classes)} classes")
        return cls(classes, table, dict(d.get("meta", {})))


def load_calibration(name: str = CALIBRATION_ASSET) -> Calibration:
    """The calibration table shipped in ``vimrag/models/assets``."""
    try:
        text = resources.files("vimrag.models").joinpath("assets", name).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise ModelUnavailableError(f"calibration table {name} is missing from the package: reinstall vimrag") from exc
    return Calibration.from_json(json.loads(text))


# ------------------------------------------------------------------------------------------------ fitting
def _newton(x: np.ndarray, y: np.ndarray, prior: np.ndarray, l2: float, iters: int = 50) -> np.ndarray:
    """MAP (a, b) of p = σ(a + b·x) under a Gaussian prior N(prior, 1/(2·l2)) — Newton's method."""
    theta = prior.astype(np.float64).copy()
    design = np.stack([np.ones_like(x), x], axis=1)
    for _ in range(iters):
        p = _sigmoid(design @ theta)
        grad = design.T @ (p - y) + 2.0 * l2 * (theta - prior)
        hess = (design * (p * (1 - p))[:, None]).T @ design + 2.0 * l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta


def fit_platt(scores: np.ndarray, truth: np.ndarray, l2: float = 1.0) -> PlattTable:
    """Per-class Platt curves shrunk towards a global one.

    ``scores``: (n_samples, n_classes) view scores; ``truth``: (n_samples, n_classes) bool labels.
    """
    x, y = logit(scores), np.asarray(truth, dtype=np.float64)
    glob = _newton(x.reshape(-1), y.reshape(-1), np.zeros(2), 1e-6)
    a, b = np.empty(x.shape[1]), np.empty(x.shape[1])
    for c in range(x.shape[1]):
        a[c], b[c] = _newton(x[:, c], y[:, c], glob, l2)
    return PlattTable(a, b)


def log_loss(table: PlattTable, scores: np.ndarray, truth: np.ndarray) -> float:
    p = np.clip(table.apply(scores).astype(np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(truth, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
