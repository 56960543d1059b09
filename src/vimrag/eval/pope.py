"""POPE metrics (Li et al., EMNLP 2023; AoiDragon/POPE ``evaluate.py``): accuracy, precision, recall, F1 and
yes-ratio, with "yes" as the positive class.

A free-text answer is read the POPE way: keep the first sentence, drop commas, and call it "no" if one of
its space-separated words is ``No``, ``no`` or ``not``; anything else is "yes".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass


def pope_label(text: str) -> str:
    """Map a model's answer to "yes" / "no" exactly as POPE's evaluation does."""
    t = str(text)
    if "." in t:
        t = t.split(".")[0]
    words = t.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


@dataclass
class PopeScores:
    accuracy: float
    precision: float
    recall: float
    f1: float
    yes_ratio: float
    tp: int
    fp: int
    tn: int
    fn: int
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def pope_scores(predictions: Sequence[str], labels: Sequence[str]) -> PopeScores:
    """Score raw answers against "yes"/"no" labels. Empty denominators give 0 rather than an exception."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    preds = [pope_label(p) == "yes" for p in predictions]
    gold = [str(lab).strip().lower() != "no" for lab in labels]
    tp = sum(p and g for p, g in zip(preds, gold, strict=True))
    fp = sum(p and not g for p, g in zip(preds, gold, strict=True))
    tn = sum(not p and not g for p, g in zip(preds, gold, strict=True))
    fn = sum(not p and g for p, g in zip(preds, gold, strict=True))
    n = len(preds)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PopeScores(
        accuracy=(tp + tn) / n if n else 0.0, precision=precision, recall=recall, f1=f1,
        yes_ratio=sum(preds) / n if n else 0.0, tp=tp, fp=fp, tn=tn, fn=fn, n=n,
    )
