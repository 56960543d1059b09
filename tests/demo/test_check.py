"""The demo's own answer check: every part of the answer, and the answer-bearing source cited where it is."""

from __future__ import annotations

from vimrag.demo.check import check
from vimrag.demo.corpus import demo_questions


def _cite(source: str, **locator: object) -> dict[str, object]:
    return {"source": f"/home/u/demo_corpus/{source}", "locator": locator}


def test_every_part_must_be_in_the_answer() -> None:
    q = {"accept": [["okafor"], ["3.2"]], "sources": ["project_falcon.md"]}
    cites = [_cite("project_falcon.md", chunk=0)]
    assert check(q, {"answer": "Ada Okafor; 3.2 million euros", "citations": cites}) == {"right": True, "cited": True}
    assert check(q, {"answer": "Ada Okafor", "citations": cites})["right"] is False
    assert check(q, {"answer": "Ada Okafor; 3.2 million", "citations": []})["cited"] is False
    assert check({"sources": []}, {"answer": "anything", "citations": []})["right"] is False  # nothing to accept


def test_the_citation_must_name_the_page_or_overlap_the_time_span() -> None:
    page = {"accept": [["q3"]], "sources": ["report.pdf#page=1"]}
    assert check(page, {"answer": "Q3", "citations": [_cite("report.pdf", page=1, box=[1, 2, 3, 4])]})["cited"]
    assert not check(page, {"answer": "Q3", "citations": [_cite("report.pdf", page=2)]})["cited"]
    assert not check(page, {"answer": "Q3", "citations": [_cite("LICENSES.md", chunk=2)]})["cited"]
    span = {"accept": [["voltaris"]], "sources": ["brief.mp4#t=11,17"]}
    assert check(span, {"answer": "Voltaris", "citations": [_cite("brief.mp4", start=10.8, end=16.2)]})["cited"]
    assert not check(span, {"answer": "Voltaris", "citations": [_cite("brief.mp4", start=0.0, end=5.3)]})["cited"]
    assert not check(span, {"answer": "Voltaris", "citations": [_cite("brief.mp4")]})["cited"]


def test_every_demo_question_says_what_it_accepts() -> None:
    for q in demo_questions():
        assert q["accept"] and all(group for group in q["accept"]), q["id"]
        # the expected answer itself passes its own check
        assert check(q, {"answer": str(q["answer"]), "citations": []})["right"], q["id"]
