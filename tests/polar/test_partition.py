"""Eq. 5–6: anchored Otsu against skimage, margin, degenerate inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vimrag.models.base import ConceptScore
from vimrag.polar.partition import anchored_otsu, partition
from vimrag.types import Polarity

skimage_filters = pytest.importorskip("skimage.filters")


def _skimage_split(scores: np.ndarray, anchors=(0.0, 1.0)) -> float:
    """skimage's Otsu on the augmented scores, given as an exact histogram (one bin per distinct value)."""
    x = np.concatenate([scores, anchors])
    vals, counts = np.unique(x, return_counts=True)
    return float(skimage_filters.threshold_otsu(hist=(counts, vals)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=30))
def test_anchored_otsu_matches_skimage(scores: list[float]) -> None:
    s = np.round(np.array(scores), 4)
    tau, sigma_w = anchored_otsu(s)
    t_sk = _skimage_split(s)  # skimage returns the largest value of the lower class
    x = np.concatenate([s, [0.0, 1.0]])
    vals = np.unique(x)
    if vals.size < 2:
        return
    nxt = vals[vals > t_sk]
    assert t_sk < tau <= (nxt[0] if nxt.size else 1.0)
    lo, hi = x[x < tau], x[x > tau]
    assert sigma_w == pytest.approx(np.sqrt((lo.size * lo.var() + hi.size * hi.var()) / x.size), abs=1e-9)


def test_anchors_change_the_threshold_for_all_high_scores() -> None:
    s = np.array([0.80, 0.82, 0.90, 0.93])
    tau_plain, _ = anchored_otsu(s, anchors=())
    tau, _ = anchored_otsu(s)
    assert 0.82 < tau_plain < 0.90  # plain Otsu splits even a uniformly positive image in two
    assert tau < 0.80  # with the anchors, all four are above τ*
    ev = partition({f"c{i}": v for i, v in enumerate(s)}, kappa=0.0)
    assert all(e.polarity == Polarity.HAS for e in ev)


def test_margin_creates_uncertain_band_and_kappa_zero_removes_it() -> None:
    scores = {"dog": 0.9, "frisbee": 0.7, "grass": 0.5, "ball": 0.3, "cat": 0.1}
    tau, sigma_w = anchored_otsu(list(scores.values()))
    wide = {e.concept: e.polarity for e in partition(scores, kappa=1.0)}
    assert wide["dog"] == Polarity.HAS and wide["cat"] == Polarity.NOT_HAS
    for c, v in scores.items():  # Eq. 6 with δ = κ·σ_w
        want = Polarity.HAS if v > tau + sigma_w else Polarity.NOT_HAS if v < tau - sigma_w else Polarity.UNCERTAIN
        assert wide[c] == want
    assert Polarity.UNCERTAIN in wide.values()
    none = {e.concept: e.polarity for e in partition(scores, kappa=0.0)}
    assert Polarity.UNCERTAIN not in none.values()
    assert len(none) == len(scores)  # uncertain concepts are kept, never dropped


def test_degenerate_inputs() -> None:
    assert anchored_otsu([]) == (0.5, 0.0)
    assert anchored_otsu([], anchors=()) == (0.5, 0.0)
    assert anchored_otsu([0.4, 0.4], anchors=()) == (0.4, 0.0)
    (e,) = partition({"dog": 0.99}, kappa=0.5)
    assert e.polarity == Polarity.HAS
    (e,) = partition({"dog": 0.01}, kappa=0.5)
    assert e.polarity == Polarity.NOT_HAS
    assert partition({}, 0.5) == []
    with pytest.raises(ValueError):
        anchored_otsu([float("nan")])
    with pytest.raises(ValueError):
        partition({"a": 0.5}, kappa=-1)


def test_partition_pools_duplicates_after_normalisation_and_uses_ensemble_mean() -> None:
    ev = partition([ConceptScore("Dogs", [0.9, 1.0], origin="vlm"), ConceptScore("dog", [0.8]),
                    ConceptScore("cat", [0.1, 0.0])], kappa=0.5)
    names = [e.concept for e in ev]
    assert names == ["dog", "cat"]
    assert ev[0].score == pytest.approx(0.9) and ev[0].origin == "vlm"
