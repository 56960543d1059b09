"""Evidence lines under a character budget keep what the question asks about (the text saliency mask)."""

from __future__ import annotations

from vimrag.polar.evidence import evidence_text, focus
from vimrag.types import ConceptEvidence, Item, LogicState, Modality, Polarity

PAGE = ("Lakeside depot — visitor page. The Lakeside depot is where Project Falcon drones are tested. "
        "It opens at 8 am on weekdays. Parking is free for visitors with a pass. "
        "Take the number 14 bus to the harbour and walk five minutes along the quay.")
QUESTION = "Which bus goes to the depot where the Falcon drones are tested?"


def test_the_sentence_with_the_question_words_survives_a_small_budget() -> None:
    cut = focus(PAGE, QUESTION, 190)
    assert len(cut) <= 190
    assert "number 14 bus" in cut and "Falcon drones are tested" in cut
    assert "Parking" not in cut and "…" in cut  # a skipped sentence is marked
    assert cut.index("Falcon") < cut.index("bus")  # reading order kept


def test_a_last_sentence_is_cut_rather_than_lost_when_room_is_left() -> None:
    cut = focus(PAGE, QUESTION, 150)
    assert "Falcon drones are tested" in cut and "number 14" in cut and len(cut) <= 150


def test_no_question_word_is_the_head_cut() -> None:
    assert focus(PAGE, "who painted the ceiling", 60) == PAGE[:59].rstrip() + "…"
    assert focus(PAGE, "", 60) == PAGE[:59].rstrip() + "…"


def test_an_image_keeps_its_verified_state_first_and_focuses_its_text() -> None:
    img = Item("i1", "/p/sign.png", "h", Modality.IMAGE, text=PAGE,
               concepts=[ConceptEvidence("bus", Polarity.HAS, 0.9, "t"), ConceptEvidence("person", Polarity.NOT_HAS, 0.1, "t")])
    line = evidence_text(img, LogicState.VERIFIED, 150, QUESTION + " Are there people?")
    assert line.startswith("[Fact Check: VERIFIED] image sign.png: has bus; not person | text: ")
    assert "number 14" in line
    assert len(line.split("sign.png: ", 1)[1]) <= 150  # the budget bounds what follows the name


def test_text_that_fits_is_untouched() -> None:
    it = Item("t", "/n/a.md", "h", Modality.TEXT, text=PAGE)
    assert evidence_text(it, None, 10_000, QUESTION) == f"text a.md: {PAGE}"


def test_a_chunk_carries_the_headings_above_it_to_the_model_the_index_and_the_embedder() -> None:
    from vimrag.index.lexical import item_document, tokenize
    from vimrag.polar.build import serialize_for_embedding
    from vimrag.types import heading_context

    meta = {"headings": ["Lakeside depot", "Getting there"]}
    chunk = Item("c1", "/w/visit.html", "h", Modality.TEXT, text="## Getting there\n\nTake the number 14 bus.", meta=meta)
    assert heading_context(meta, chunk.text) == "Lakeside depot"  # its own heading is already in its text
    assert heading_context(meta, "Take the bus.") == "Lakeside depot › Getting there"
    assert heading_context({}, "x") == "" and heading_context(None, "x") == ""
    assert evidence_text(chunk, None).startswith("text visit.html: [Lakeside depot] ## Getting there")
    assert set(tokenize("Lakeside")) <= set(tokenize(item_document(chunk)))  # a query for the page finds it
    assert serialize_for_embedding(chunk).startswith("text: Lakeside depot: ## Getting there")


def test_a_page_names_the_chart_cells_its_question_points_at() -> None:
    # a chart read by row and column from a PDF's text layer (ingest.pdf_matrices): in the page's text its
    # numbers are a jumble a small model misreads ("28%"), the named cell leads the evidence
    matrix = [["", "Major reason", "Minor reason", "NOT a reason"], ["Not enough timely testing", "49", "31", "19"],
              ["Unclear instructions", "40", "32", "28"]]
    page = Item("p8", "/d/report.pdf", "h", Modality.PAGE, text="Just 28% say it is not possible. " * 40,
                meta={"matrices": [matrix]})
    q = "How many percent cite not enough timely testing as a major reason?"
    line = evidence_text(page, LogicState.UNCERTAIN, 200, q)
    assert "cells the question names: Not enough timely testing × Major reason = 49 | text: " in line
    assert "cells the question names" not in evidence_text(page, LogicState.UNCERTAIN, 200, "What did the report find?")
    broken = Item("p9", "/d/report.pdf", "h", Modality.PAGE, text="x", meta={"matrices": "not a list"})
    assert "cells" not in evidence_text(broken, None, 200, q)  # a damaged meta field names nothing


def test_absences_are_shown_for_the_concepts_the_question_names() -> None:
    """What an item has is always shown; what it lacks or leaves uncertain only where the question asks."""
    ev = [ConceptEvidence(n, Polarity.HAS, 0.9, "t") for n in ("cup", "laptop")]
    ev += [ConceptEvidence(n, Polarity.NOT_HAS, 0.05, "t") for n in ("person", "wine glass", "truck", "dog")]
    ev += [ConceptEvidence(n, Polarity.UNCERTAIN, 0.5, "t") for n in ("cat", "tv")]
    img = Item("i2", "/p/desk.png", "h", Modality.IMAGE, text="", concepts=ev)
    assert evidence_text(img, LogicState.VERIFIED, None, "Which photo shows a mug but nobody?") == (
        "[Fact Check: VERIFIED] image desk.png: has cup, laptop; not person")
    assert evidence_text(img, LogicState.VERIFIED, None, "a wine glass and no animals") == (
        "[Fact Check: VERIFIED] image desk.png: has cup, laptop; not wine glass, dog; uncertain cat")
    assert evidence_text(img, LogicState.VERIFIED, None, "what is on the desk?") == (
        "[Fact Check: VERIFIED] image desk.png: has cup, laptop")
    assert "not person, wine glass, truck, dog; uncertain cat, tv" in evidence_text(img, LogicState.VERIFIED)
