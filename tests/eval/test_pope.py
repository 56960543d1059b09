from __future__ import annotations

import pytest

from vimrag.eval.pope import pope_label, pope_scores


@pytest.mark.parametrize(("text", "label"), [
    ("Yes, there is a dog.", "yes"),
    ("No, there is no dog in the image.", "no"),
    ("There is not a dog", "no"),
    ("Yes. No other animals are visible.", "yes"),  # only the first sentence counts
    ("NO", "yes"),  # POPE matches the words "No", "no", "not" exactly: upper-case NO is read as yes
    ("no,", "no"),
])
def test_pope_label(text: str, label: str) -> None:
    assert pope_label(text) == label


def test_pope_scores_known_confusion() -> None:
    preds = ["yes", "yes", "no", "no", "yes", "no"]
    labels = ["yes", "no", "no", "yes", "yes", "no"]
    s = pope_scores(preds, labels)
    assert (s.tp, s.fp, s.tn, s.fn) == (2, 1, 2, 1)
    assert s.accuracy == pytest.approx(4 / 6) and s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 3) and s.f1 == pytest.approx(2 / 3) and s.yes_ratio == 0.5


def test_pope_all_no_has_zero_precision_not_an_exception() -> None:
    s = pope_scores(["no"] * 4, ["yes", "no", "yes", "no"])
    assert s.precision == 0.0 and s.f1 == 0.0 and s.accuracy == 0.5 and s.yes_ratio == 0.0
    with pytest.raises(ValueError):
        pope_scores(["yes"], [])
