"""Non-parametric partition of one image's verification scores into HAS / NOT_HAS / UNCERTAIN.

PolarMem §3.2: the scores s_c (Eq. 4) of the concepts proposed for one image are split by Otsu's
threshold computed on the scores **with the two anchor priors {0, 1} injected** (Eq. 5), so that an image
whose scores are all high (or all low) is not forced into two classes of its own; then a dynamic margin
δ = κ·σ_w (Eq. 6), σ_w the within-class standard deviation at τ*, keeps an UNCERTAIN band:

    HAS        if s_c > τ* + δ
    NOT_HAS    if s_c < τ* − δ
    UNCERTAIN  otherwise (kept, not dropped).

The released code (czs-ict/PolarMem, ``otsu_gate.py``) uses plain Otsu and a fixed margin of 0.05; we
follow the paper's equations (anchors and κ·σ_w), which the code simplifies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from vimrag.config import ABSENCE_RULES
from vimrag.models.base import ConceptScore
from vimrag.polar.concepts import normalize_concept
from vimrag.types import ConceptEvidence, Polarity


def anchored_otsu(scores: Sequence[float] | np.ndarray, anchors: Sequence[float] = (0.0, 1.0)) -> tuple[float, float]:
    """Otsu's threshold τ* on ``scores ∪ anchors`` (Eq. 5) and the within-class std σ_w at τ*.

    Exact (no histogram binning): every split between consecutive distinct values is tried and the one
    maximising the between-class variance w0·w1·(μ0−μ1)² wins (the lowest split on ties, as skimage).
    τ* is the midpoint between the two classes' facing values. σ_w = sqrt(w0·σ0² + w1·σ1²).
    Degenerate inputs: no values → (0.5, 0.0); a single distinct value v → (v, 0.0).
    """
    x = np.concatenate([np.asarray(scores, dtype=np.float64).reshape(-1), np.asarray(anchors, dtype=np.float64)])
    if x.size and not np.isfinite(x).all():
        raise ValueError("verification scores must be finite")
    if x.size == 0:
        return 0.5, 0.0
    vals, counts = np.unique(x, return_counts=True)
    if vals.size == 1:
        return float(vals[0]), 0.0
    w = counts.astype(np.float64)
    total = w.sum()
    cw = np.cumsum(w)[:-1]  # weight of the lower class for a split after each value
    cs = np.cumsum(w * vals)[:-1]
    w0, w1 = cw / total, 1.0 - cw / total
    mu0 = cs / cw
    mu1 = (np.sum(w * vals) - cs) / (total - cw)
    between = w0 * w1 * (mu0 - mu1) ** 2
    i = int(np.argmax(between))
    tau = 0.5 * (vals[i] + vals[i + 1])
    lo, hi = x[x <= vals[i]], x[x > vals[i]]
    sigma_w = float(np.sqrt((lo.size * lo.var() + hi.size * hi.var()) / x.size))
    return float(tau), sigma_w


def _scores(concept_scores: Iterable[ConceptScore] | Mapping[str, float]) -> dict[str, tuple[list[float], list[float], str]]:
    """Normalized concept → (ensemble scores, veto scores, origin); duplicates after normalization pool both."""
    out: dict[str, tuple[list[float], list[float], str]] = {}
    items: Iterable[tuple[str, list[float], list[float], str]]
    if isinstance(concept_scores, Mapping):
        items = ((c, [float(s)], [], "") for c, s in concept_scores.items())
    else:
        items = (
            (cs.concept, [float(v) for v in cs.scores], [float(v) for v in cs.veto], cs.origin)
            for cs in concept_scores
        )
    for name, scores, veto, origin in items:
        c = normalize_concept(name)
        if not c or not scores:
            continue
        prev = out.get(c)
        if prev is None:
            out[c] = (list(scores), list(veto), origin)
        else:
            prev[0].extend(scores)
            prev[1].extend(veto)
    return out




def partition(
    concept_scores: Iterable[ConceptScore] | Mapping[str, float],
    kappa: float = 0.5,
    anchors: Sequence[float] = (0.0, 1.0),
    absence: str = "mean",
    veto_kappa: float = 0.0,
) -> list[ConceptEvidence]:
    """Eq. 5–6: polarise one image's concept scores. Returns evidence sorted by score, highest first.

    ``absence`` decides NOT_HAS. ``"mean"`` is the paper: the ensemble mean s_c (Eq. 4) below τ* − δ.
    ``"unanimous"`` (deviation, used by the closed-set perceiver, ``polar.local_absence``): every ensemble
    member must be below τ* − δ, and no *veto view* (:attr:`ConceptScore.veto`, e.g. close-up tiles) may
    see the concept. Absence is a universal claim: one view in which the detector sees the object refutes
    it, and a mean lets a small object seen only in a close-up tile (0.6 there, 0 in the whole-image views)
    fall to NOT_HAS. A veto view's scores have their own noise floor (a max over 9 crops lifts every
    class), so "sees" is judged by the same anchored Otsu applied to the veto scores of all the image's
    concepts: a concept is vetoed when its veto score is ≥ τ_v − ``veto_kappa``·σ_v. τ*, δ and HAS still
    come from the means, so the rule only ever turns NOT_HAS into UNCERTAIN.
    """
    if kappa < 0 or veto_kappa < 0:
        raise ValueError("kappa and veto_kappa must be ≥ 0")
    if absence not in ABSENCE_RULES:
        raise ValueError(f"absence must be one of {ABSENCE_RULES}, got {absence!r}")
    pooled = _scores(concept_scores)
    if not pooled:
        return []
    names = list(pooled)
    s = np.array([float(np.mean(pooled[c][0])) for c in names])
    tau, sigma_w = anchored_otsu(s, anchors)
    delta = kappa * sigma_w
    absent = s < tau - delta
    if absence == "unanimous":
        absent &= np.array([max(pooled[c][0]) < tau - delta for c in names])
        veto = {c: max(pooled[c][1]) for c in names if pooled[c][1]}
        if veto:
            tau_v, sigma_v = anchored_otsu(list(veto.values()), anchors)
            absent &= np.array([veto.get(c, 0.0) < tau_v - veto_kappa * sigma_v for c in names])
    out = []
    for c, v, a in zip(names, s, absent, strict=True):
        pol = Polarity.HAS if v > tau + delta else Polarity.NOT_HAS if a else Polarity.UNCERTAIN
        out.append(ConceptEvidence(c, pol, float(v), pooled[c][2]))
    out.sort(key=lambda e: (-e.score, e.concept))
    return out
