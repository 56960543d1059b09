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


def test_partition_pools_duplicates_after_normalization_and_uses_ensemble_mean() -> None:
    ev = partition([ConceptScore("Dogs", [0.9, 1.0], origin="vlm"), ConceptScore("dog", [0.8]),
                    ConceptScore("cat", [0.1, 0.0])], kappa=0.5)
    names = [e.concept for e in ev]
    assert names == ["dog", "cat"]
    assert ev[0].score == pytest.approx(0.9) and ev[0].origin == "vlm"


def test_unanimous_absence_needs_every_view_below_the_band() -> None:
    # "ball" is seen in one of three ensemble views only; "kite" only in a veto view (a close-up tile)
    concepts = [
        ConceptScore("person", [0.95, 0.9, 0.97]),
        ConceptScore("dog", [0.9, 0.92, 0.88]),
        ConceptScore("ball", [0.0, 0.0, 0.6]),
        ConceptScore("kite", [0.0, 0.01, 0.0], veto=[0.7]),
        ConceptScore("car", [0.02, 0.0, 0.05], veto=[0.03]),
        ConceptScore("cat", [0.0, 0.01, 0.0]),
    ]
    mean = {e.concept: e for e in partition(concepts, kappa=0.5, absence="mean")}
    unan = {e.concept: e for e in partition(concepts, kappa=0.5, absence="unanimous")}
    assert mean["ball"].polarity == mean["kite"].polarity == Polarity.NOT_HAS  # the paper's mean: absent
    assert unan["ball"].polarity == Polarity.UNCERTAIN  # one view saw it: not verified absent
    assert unan["kite"].polarity == Polarity.UNCERTAIN  # a veto view saw it
    # everything else is unchanged, and scores stay the ensemble means (veto views are not averaged in)
    for c in ("person", "dog", "car", "cat"):
        assert unan[c].polarity == mean[c].polarity
    assert unan["ball"].score == pytest.approx(0.2) == mean["ball"].score
    assert unan["kite"].score == pytest.approx(0.01 / 3)


def test_veto_views_are_judged_against_their_own_noise_floor() -> None:
    # A max over 9 tiles lifts every class to ~0.35; only a class clearly above that floor vetoes absence.
    concepts = [ConceptScore("person", [1.0, 1.0], veto=[1.0]), ConceptScore("cup", [0.9, 0.95], veto=[0.9])]
    concepts += [ConceptScore(f"thing{i}", [0.0, 0.02], veto=[0.35]) for i in range(10)]
    concepts += [ConceptScore("ball", [0.0, 0.02], veto=[0.9])]
    tau_v, sigma_v = anchored_otsu([1.0, 0.9, *[0.35] * 10, 0.9])
    assert 0.35 < tau_v - sigma_v < 0.9
    pol = {e.concept: e.polarity for e in partition(concepts, kappa=0.5, absence="unanimous", veto_kappa=1.0)}
    assert pol["ball"] == Polarity.UNCERTAIN  # a tile saw it
    assert all(pol[f"thing{i}"] == Polarity.NOT_HAS for i in range(10))  # the floor is not evidence
    # with a margin wide enough to reach the floor, the floor vetoes too
    wide = {e.concept: e.polarity for e in partition(concepts, kappa=0.5, absence="unanimous", veto_kappa=4.0)}
    assert wide["thing0"] == Polarity.UNCERTAIN


def test_veto_scores_pool_with_duplicates() -> None:
    ev = partition([ConceptScore("person", [1.0]), ConceptScore("dogs", [0.0]), ConceptScore("dog", [0.0], veto=[0.9]),
                    ConceptScore("cat", [0.0])], kappa=0.5, absence="unanimous")  # fmt: skip
    pol = {e.concept: e.polarity for e in ev}
    assert pol["dog"] == Polarity.UNCERTAIN and pol["cat"] == Polarity.NOT_HAS


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=4, max_size=4), min_size=1, max_size=20))
def test_unanimous_absence_only_moves_not_has_to_uncertain(ensembles: list[list[float]]) -> None:
    concepts = [ConceptScore(f"c{i}", s[:3], veto=s[3:]) for i, s in enumerate(ensembles)]
    mean = {e.concept: e.polarity for e in partition(concepts, kappa=1.0, absence="mean")}
    unan = {e.concept: e.polarity for e in partition(concepts, kappa=1.0, absence="unanimous")}
    for c, pol in unan.items():
        if pol != mean[c]:
            assert (mean[c], pol) == (Polarity.NOT_HAS, Polarity.UNCERTAIN)
        if pol == Polarity.NOT_HAS:  # verified absent: no single view reached the band
            tau, sw = anchored_otsu([float(np.mean(s[:3])) for s in ensembles])
            assert max(ensembles[int(c[1:])][:3]) < tau - 1.0 * sw
            tau_v, _ = anchored_otsu([s[3] for s in ensembles])  # veto views: their own split
            assert ensembles[int(c[1:])][3] < tau_v  # default veto_kappa 0: below its own threshold


def test_unknown_absence_rule_is_an_error() -> None:
    with pytest.raises(ValueError, match="absence"):
        partition({"dog": 0.9}, absence="majority")
