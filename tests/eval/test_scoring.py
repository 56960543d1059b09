"""Retrieval scores of a negation query: precision@k, violations, and the unflagged results containing B."""

from __future__ import annotations

import pytest

from vimrag.eval.methods import Prediction, Retrieved
from vimrag.eval.schema import Evidence, Example
from vimrag.eval.scoring import score_example


def test_negation_retrieval_scores() -> None:
    ex = Example("neg:cup-not-person", "a photo with a cup but no person", [],
                 evidence=[Evidence("/d/a.jpg"), Evidence("/d/b.jpg")],
                 meta={"negative_images": ["c.jpg", "d.jpg"]})
    pred = Prediction(retrieved=[
        Retrieved("/d/a.jpg", state="verified"),
        Retrieved("/d/c.jpg", state="uncertain"),  # contains the person, shown as a match
        Retrieved("/d/e.jpg", state="uncertain"),
        Retrieved("/d/d.jpg", state="conflict"),  # contains the person, flagged "excluded: has person"
    ])
    s = score_example(ex, pred, "retrieval")
    assert s["precision@1"] == 1.0 and s["precision@5"] == pytest.approx(1 / 5)
    assert s["capped_precision@5"] == pytest.approx(1 / 2)  # 2 gold: at most 2 of the 5 slots can hit
    assert s["capped_precision@1"] == 1.0
    assert s["violation@5"] == pytest.approx(2 / 4)
    assert s["returned@5"] == 3.0 and s["neg_items@5"] == 1.0
    assert s["returned@1"] == 1.0 and s["neg_items@1"] == 0.0


def test_capped_precision_counts_each_gold_document_once() -> None:
    """Several pages of one gold PDF fill the top k: one gold document found, not k (was 3.0 at k = 5)."""
    ex = Example("doc:q", "what does the report say?", ["x"], evidence=[Evidence("/d/report.pdf", page=3)])
    pred = Prediction(retrieved=[Retrieved("/d/report.pdf", {"page": p}) for p in (3, 4, 5)]
                      + [Retrieved("/d/other.pdf", {"page": 1})])
    s = score_example(ex, pred, "qa")
    assert s["capped_precision@5"] == 1.0 and s["capped_precision@1"] == 1.0
    assert s["precision@5"] == pytest.approx(3 / 5)  # P@k still counts the slots
