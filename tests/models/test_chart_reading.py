"""Pairing a bar chart's value labels with its categories from OCR boxes (geometry only, no OCR here;
the real OCR on a rendered chart is in tests/models/perceivers/test_local_perceiver.py)."""

from __future__ import annotations

import pytest

from vimrag.models.chart_reading import _repair_sequence, read_chart
from vimrag.models.ocr import OcrBox


def chart_values(boxes: list[OcrBox]) -> list[tuple[str, str]]:
    reading = read_chart(boxes)
    return reading.pairs if reading else []


def _box(text: str, cx: float, cy: float, w: float = 28, h: float = 20) -> OcrBox:
    return OcrBox(text, 1.0, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))


def _ticks(x: float, values: list[str], y0: float = 300, dy: float = 36) -> list[OcrBox]:
    return [_box(v, x, y0 - i * dy) for i, v in enumerate(values)]


def _vertical(values: dict[str, tuple[str, float]], offset: float = 0.0) -> list[OcrBox]:
    """Categories at y = 320, 125 px apart from x = 140; each value label above its bar (x + offset)."""
    boxes = [_box("Revenue by quarter (million euros)", 320, 20, w=360)]
    boxes += _ticks(45, ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0", "3.5"])
    for i, (cat, (val, y)) in enumerate(values.items()):
        x = 140 + 125 * i
        boxes += [_box(cat, x, 320), _box(val, x + offset, y)]
    return boxes


def test_vertical_bars_pair_each_value_with_its_category_and_skip_the_ticks() -> None:
    boxes = _vertical({"Q1": ("1.8", 160), "Q2": ("2.4", 116), "Q3": ("3.1", 65), "Q4": ("2.7", 95)})
    assert chart_values(boxes) == [("Q1", "1.8"), ("Q2", "2.4"), ("Q3", "3.1"), ("Q4", "2.7")]
    reading = read_chart(boxes)
    assert reading is not None and reading.line == ("Values by label: Q1 = 1.8; Q2 = 2.4; Q3 = 3.1; Q4 = 2.7 "
                                             "(highest Q3, 3.1; lowest Q1, 1.8)")
    assert [b.text for b in reading.other] == ["Revenue by quarter (million euros)"]  # no ticks, no categories


def test_horizontal_bars_read_along_the_rows() -> None:
    boxes = [_box(c, 60, 60 + 50 * i, w=70) for i, c in enumerate(["Apples", "Pears", "Plums"])]
    boxes += [_box(v, x, 60 + 50 * i) for i, (v, x) in enumerate([("42", 520), ("17", 260), ("29", 380)])]
    boxes += [_box(v, 110 + 100 * i, 230) for i, v in enumerate(["0", "10", "20", "30", "40"])]  # the value axis
    assert chart_values(boxes) == [("Apples", "42"), ("Pears", "17"), ("Plums", "29")]


@pytest.mark.parametrize("case", ["grouped", "no values", "one category", "two values for one bar"])
def test_what_cannot_be_paired_surely_is_not_read(case: str) -> None:
    base = {"North": ("3", 200), "South": ("5", 140), "East": ("2", 230)}
    if case == "grouped":  # two series: labels sit beside the category's centre
        boxes = _vertical(base, offset=-25) + [_box(v, 140 + 125 * i + 25, 180) for i, v in enumerate("416")]
    elif case == "no values":
        boxes = [b for b in _vertical(base) if b.text in {"North", "South", "East"} or "." in b.text]
    elif case == "one category":
        boxes = _vertical({"North": ("3", 200)})
    else:
        boxes = _vertical(base) + [_box("7", 140, 100)]
    assert chart_values(boxes) == [] and read_chart(boxes) is None


def test_numbered_categories_are_read_but_a_value_axis_is_not_taken_for_them() -> None:
    years = _vertical({"2022": ("120", 200), "2023": ("135", 180), "2024": ("171", 120)})
    assert chart_values(years) == [("2022", "120"), ("2023", "135"), ("2024", "171")]
    # only a value axis starting at 0 under the numbers: nothing to name them by
    axis = [_box(v, 140 + 125 * i, 320) for i, v in enumerate(["0", "10", "20"])] + [_box("8", 140, 200),
                                                                                        _box("17", 265, 150)]
    assert chart_values(axis) == []


def test_a_misread_counting_label_is_repaired_from_its_neighbours() -> None:
    assert _repair_sequence(["Q1", "Q2", "ε3", "Q4"]) == ["Q1", "Q2", "Q3", "Q4"]
    assert _repair_sequence(["Week 2", "Wcek 4", "Week 6"]) == ["Week 2", "Week 4", "Week 6"]
    for names in (["Q1", "Q2", "Q3"], ["Q1", "Q2", "x7", "Q4"], ["North", "South", "East"], ["2021", "2O23", "2024"]):
        assert _repair_sequence(names) == names  # nothing to repair, or the digits do not fit the count


def test_extremes_count_signs_and_need_three_values() -> None:
    boxes = _vertical({"Jan": ("5", 100), "Feb": ("-3", 250), "Mar": ("2", 150)})
    reading = read_chart(boxes)
    assert reading is not None and reading.line.endswith("(highest Jan, 5; lowest Feb, -3)")
    two = read_chart(_vertical({"Jan": ("5", 100), "Feb": ("3", 150)}))
    assert two is not None and "highest" not in two.line


def test_one_ocr_box_over_two_bars_is_cut_between_its_words() -> None:
    # STEPBACK.pdf (MMLongBench-Doc) page 7: OCR read two category labels as one box
    boxes = [_box(t, (x0 + x1) / 2, (y0 + y1) / 2, w=x1 - x0, h=y1 - y0) for t, (x0, y0, x1, y1) in [
        ("0.6", (7, 5, 23, 17)), ("0.52", (56, 31, 76, 42)), ("0.4", (7, 50, 23, 61)), ("0.45", (173, 47, 194, 58)),
        ("0.2", (7, 94, 23, 106)), ("0.02", (115, 122, 135, 133)), ("0.01", (233, 124, 252, 135)),
        ("0.0", (7, 139, 24, 150)), ("Reasoning Error Scoring Error", (32, 148, 152, 161)),
        ("RAG", (173, 148, 195, 159)), ("StepBack", (223, 148, 263, 161))]]
    assert chart_values(boxes) == [("Reasoning Error", "0.52"), ("Scoring Error", "0.02"), ("RAG", "0.45"),
                                   ("StepBack", "0.01")]
