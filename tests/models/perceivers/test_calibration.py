"""Per-class Platt calibration of the closed-set scores (vimrag.models.perceivers.calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from vimrag.config import PolarConfig
from vimrag.errors import ModelUnavailableError
from vimrag.models.perceivers.calibration import (
    Calibration,
    PlattTable,
    fit_platt,
    load_calibration,
    log_loss,
)
from vimrag.models.perceivers.labels import COCO_NAMES
from vimrag.polar.concepts import normalize_concept


def _sample(rng: np.random.Generator, n: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    s = rng.uniform(0.001, 0.999, n)
    p = 1.0 / (1.0 + np.exp(-(a + b * np.log(s / (1 - s)))))
    return s, rng.random(n) < p


def test_fit_recovers_each_class_curve_and_shrinks_empty_ones() -> None:
    rng = np.random.default_rng(0)
    s0, y0 = _sample(rng, 20000, -2.0, 1.5)
    s1, y1 = _sample(rng, 20000, 1.0, 0.7)
    scores, truth = np.stack([s0, s1], 1), np.stack([y0, y1], 1)
    t = fit_platt(scores, truth, l2=1.0)
    assert t.a == pytest.approx([-2.0, 1.0], abs=0.15) and t.b == pytest.approx([1.5, 0.7], abs=0.1)
    assert log_loss(t, scores, truth) < log_loss(PlattTable(np.zeros(2), np.ones(2)), scores, truth)
    # A third class that never occurs, strongly shrunk: it keeps (close to) the global curve, no wild fit.
    few = np.concatenate([scores[:200], rng.uniform(0, 1, (200, 1))], 1)
    lab = np.concatenate([truth[:200], np.zeros((200, 1), bool)], 1)
    t3 = fit_platt(few, lab, l2=1e4)
    assert abs(t3.a[2] - t3.a[0]) < 0.2 and abs(t3.b[2] - t3.b[0]) < 0.2


def test_the_shipped_table_covers_coco_and_is_monotone() -> None:
    cal = load_calibration()
    assert cal.classes == tuple(normalize_concept(c) for c in COCO_NAMES)
    assert (cal.table.b > 0).all()  # a higher detector score never means a lower probability
    grid = np.linspace(0.01, 0.99, 50)[:, None].repeat(len(cal.classes), 1)
    assert (np.diff(cal.table.apply(grid), axis=0) >= 0).all()
    assert cal.matches(PolarConfig())  # fitted for the shipped γ and views
    assert not cal.matches(PolarConfig(local_score_power=0.5))
    p = cal.probabilities({"person": 0.99, "unicorn": 0.9})
    assert set(p) == {"person"} and 0.5 < p["person"] <= 1.0
    assert cal.meta["fitted_on"].startswith("coco128-train")


def test_a_table_that_does_not_match_its_classes_is_refused() -> None:
    bad = Calibration(("a", "b"), PlattTable(np.zeros(2), np.ones(2))).to_json()
    bad["a"] = [0.0]
    with pytest.raises(ModelUnavailableError, match="does not match"):
        Calibration.from_json(bad)
