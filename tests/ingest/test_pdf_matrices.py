"""Charts and unruled tables of a PDF's text layer read by row and column (vimrag.ingest.pdf_matrices)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vimrag.ingest.pdf_matrices import read_matrices


def matrix_lines(words: list[dict]) -> list[str]:
    return [line for m in read_matrices(words) for line in m.sentences()]


def _words(spec: list[tuple[str, float, float]], size: float = 9.0) -> list[dict]:
    """(text, x0, top) → pdfplumber-like word dicts, 5 pt per character."""
    return [{"text": t, "x0": x, "x1": x + 5 * len(t), "top": y, "bottom": y + size} for t, x, y in spec]


def _line(text: str, x: float, y: float) -> list[tuple[str, float, float]]:
    out, at = [], x
    for w in text.split():
        out.append((w, at, y))
        at += 5 * len(w) + 2.5
    return out


#: A Pew-style stacked bar chart right of a column of body text: a legend, wrapped row labels, numbers
#: inside the bar segments (not in columns: each segment's label sits in its middle). (phrase, x, top)
PEW_PHRASES = [
    ("Roughly six-in-ten (58%) also say", 40, 100), ("a major reason is that restrictions", 40, 130),
    ("were lifted too quickly in places.", 40, 160),
    ("Major reason", 330, 100), ("Minor reason", 420, 100), ("NOT a reason", 500, 100),
    ("Not enough people social", 230, 126), ("distancing and mask-wearing", 230, 136),
    ("75", 370, 131), ("16", 470, 131), ("9", 540, 131),
    ("Lifted too quickly", 230, 161), ("58", 360, 161), ("25", 450, 161), ("17", 530, 161),
    ("Not enough timely testing", 230, 191), ("49", 355, 191), ("31", 440, 191), ("19", 525, 191),
]
PEW = [w for phrase, x, y in PEW_PHRASES for w in _line(phrase, x, y)]


def test_a_stacked_bar_chart_beside_body_text() -> None:
    assert matrix_lines(_words(PEW)) == [
        "Not enough people social distancing and mask-wearing: Major reason = 75, Minor reason = 16, NOT a reason = 9.",
        "Lifted too quickly: Major reason = 58, Minor reason = 25, NOT a reason = 17.",
        "Not enough timely testing: Major reason = 49, Minor reason = 31, NOT a reason = 19.",
    ]


def test_a_wrapped_legend_entry_is_read_whole() -> None:
    spec = (_line("State and local", 420, 88) + _line("The federal government", 300, 100) + _line("governments", 420, 100)
            + [(t, 240, y) for t, y in (("Total", 130), ("Rep/Lean", 160), ("Dem/Lean", 190))]
            + [(v, x, y) for y, vals in ((130, ("48", "51")), (160, ("30", "68")), (190, ("64", "35")))
               for v, x in zip(vals, (340, 450), strict=True)])
    lines = matrix_lines(_words(spec))
    assert lines[0] == "Total: The federal government = 48, State and local governments = 51."


@pytest.mark.parametrize("case", ["side by side", "heads elsewhere", "numbers as heads", "two rows", "no heads",
                                  "a paragraph beside"])
def test_what_is_not_surely_a_matrix_is_not_read(case: str) -> None:
    if case == "side by side":  # two (state, count) tables next to each other: a word between the numbers
        spec = _line("State Stores State Stores", 100, 100) + [
            w for k, (a, b) in enumerate((("Alabama", "Alaska"), ("Arizona", "Arkansas"), ("Colorado", "Delaware")))
            for w in ((a, 100, 130 + 30 * k), (str(11 + k), 200, 130 + 30 * k), (b, 260, 130 + 30 * k),
                      (str(5 + k), 360, 130 + 30 * k))]
    elif case == "heads elsewhere":  # the line above is far to the left of the numbers' columns
        spec = [w for w in PEW if w[1] < 330 or w[2] > 100] + _line("Major reason Minor reason NOT a reason", 0, 100)
    elif case == "numbers as heads":
        spec = [w for w in PEW if w[2] > 100] + [("310*", 360, 100), ("265**", 450, 100), ("12", 525, 100)]
    elif case == "a paragraph beside":  # a line chart's point labels beside body text: no row labels of its own
        labels = {"Not", "enough", "people", "social", "distancing", "and", "mask-wearing", "Lifted", "too", "quickly",
                  "timely", "testing"}
        spec = [w for w in PEW if w[1] >= 330 and w[0] not in labels] + [
            w for y in range(85, 215, 15) for w in _line("text of the report running on and on", 40, y)]
    elif case == "two rows":
        spec = [w for w in PEW if w[2] < 185]
    else:
        spec = [w for w in PEW if w[2] > 100]
    assert matrix_lines(_words(spec)) == []


def test_a_pdf_chart_drawn_as_vectors_reaches_the_page_text(tmp_path: Path) -> None:
    fpdf = pytest.importorskip("fpdf")
    pytest.importorskip("pdfplumber")
    from vimrag.config import IngestConfig
    from vimrag.ingest.registry import iter_items

    pdf = fpdf.FPDF(format="A4", unit="pt")
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    for text, x, y in PEW_PHRASES:
        pdf.text(x, y + 8, text)
    for y in (126, 161, 191):  # the bars themselves
        pdf.rect(350, y, 200, 12)
    path = tmp_path / "chart.pdf"
    pdf.output(str(path))
    page = next(i for i in iter_items(path, IngestConfig(ocr=False)) if i.locator.page == 1 and i.meta.get("kind") is None)
    assert "Read by row and column.\nNot enough people social distancing and mask-wearing: Major reason = 75," in page.text
    assert page.meta["matrices"][0][0] == ["", "Major reason", "Minor reason", "NOT a reason"]
    assert page.meta["matrices"][0][3] == ["Not enough timely testing", "49", "31", "19"]
    plain = next(iter(iter_items(path, IngestConfig(ocr=False, pdf_tables=False))))
    assert "Read by row and column" not in plain.text


def test_a_ruled_table_is_written_once_not_read_again_as_a_matrix(tmp_path: Path) -> None:
    """The demo report's page-2 table is a ruled table (named rows); its words are not a second matrix."""
    pytest.importorskip("fpdf")
    pytest.importorskip("pdfplumber")
    from vimrag.config import IngestConfig
    from vimrag.demo.corpus import build_report
    from vimrag.ingest.registry import iter_items

    path = tmp_path / "report.pdf"
    build_report(path)
    page = next(i for i in iter_items(path, IngestConfig(ocr=False)) if i.locator.page == 2 and i.meta.get("kind") is None)
    assert "North: Q1 = 980; Q2 = 1,105" in page.text  # the table, as named rows
    assert "Read by row and column" not in page.text and "matrices" not in page.meta
