"""Citations carry the region an answer was read from (issue 15): a table's box, not just its page."""

from __future__ import annotations

from vimrag.agent.citations import citations_for
from vimrag.agent.graph import BankEntry, MemoryGraph
from vimrag.ingest.tables import table_text
from vimrag.polar.evidence import evidence_text, question_cells
from vimrag.types import Item, Locator, LogicState, Modality

ROWS = [["Region", "Q1", "Q3", "Total"], ["North", "980", "1,240", "4,335"], ["South", "720", "905", "3,295"]]


def _table() -> Item:
    return Item("t1", "/r/report.pdf", "h", Modality.TEXT, locator=Locator(page=2, box=(48.0, 67.0, 952.0, 198.0)),
                text=table_text(ROWS, "Table 1 on page 2: Bicycles sold"), meta={"kind": "table"})


def _page() -> Item:
    text = "Bicycles sold per region\n" + table_text(ROWS, markdown=False) + "\nNorth sold the most, 4,335."
    return Item("p2", "/r/report.pdf", "h", Modality.PAGE, locator=Locator(page=2), text=text)


def test_question_cells_name_the_row_and_column_the_question_does() -> None:
    table = _table()
    assert question_cells(table, "How many bicycles did the North region sell in Q3?") == ["North × Q3 = 1,240"]
    assert question_cells(table, "what did the north and the south sell in q3") == [
        "North × Q3 = 1,240", "South × Q3 = 905"]
    assert question_cells(table, "How many bicycles did the North region sell?") == []  # no column named
    assert question_cells(_page(), "North in Q3?") == []  # only table items
    line = evidence_text(table, LogicState.UNCERTAIN, 200, "How many bicycles did the North region sell in Q3?")
    assert "cells the question names: North × Q3 = 1,240 |" in line
    assert "cells the question names" not in evidence_text(table, LogicState.UNCERTAIN, 200)


def test_a_cited_page_is_preceded_by_the_table_that_holds_the_answer() -> None:
    g = MemoryGraph("How many bicycles did the North region sell in Q3?")
    g.add_node("north q3", parents=[0], step=1,
               bank=[BankEntry(_page(), LogicState.UNCERTAIN, 0.8), BankEntry(_table(), LogicState.UNCERTAIN, 0.7)])
    cites, node = citations_for(g, ["1.1"], answer="1,240")
    assert node == 1 and [c["id"] for c in cites] == ["t1", "p2"]
    assert cites[0]["locator"]["box"] == [48.0, 67.0, 952.0, 198.0] and cites[0]["locator"]["page"] == 2
    # an answer the table does not hold (or none) leaves the citation as the policy gave it
    assert [c["id"] for c in citations_for(g, ["1.1"], answer="7,777")[0]] == ["p2"]
    assert [c["id"] for c in citations_for(g, ["1.1"])[0]] == ["p2"]


def _text(item_id: str, source: str, text: str) -> Item:
    return Item(item_id, source, "h", Modality.TEXT, locator=Locator(chunk=0), text=text)


def _photo(item_id: str, source: str, text: str) -> Item:
    return Item(item_id, source, "h", Modality.IMAGE, text=text)


def test_the_answer_cites_the_items_that_hold_it_not_the_policys_wrong_cite() -> None:
    g = MemoryGraph("Which photo shows a cup but no person?")
    g.add_node("cup photo", parents=[0], step=1, bank=[
        BankEntry(_photo("v", "/d/bunny.mp4", "a rabbit in a meadow"), LogicState.UNCERTAIN, 0.9),
        BankEntry(_photo("c", "/d/coffee.png", "cup, saucer"), LogicState.UNCERTAIN, 0.6),
        BankEntry(_photo("a", "/d/astronaut.png", "person"), LogicState.UNCERTAIN, 0.5),
        BankEntry(_text("lic", "/d/LICENSES.md", "| coffee.png | photo | CC0 |"), LogicState.UNCERTAIN, 0.4)])
    # the file the answer names, not the licence table that mentions it
    assert [c["id"] for c in citations_for(g, ["1.1"], answer="coffee.png")[0]] == ["c"]
    # off: the policy's cite as written
    assert [c["id"] for c in citations_for(g, ["1.1"], answer="coffee.png", attribute=False)[0]] == ["v"]


def test_attribution_prefers_the_policys_cite_then_score_and_keeps_partial_cites_after() -> None:
    g = MemoryGraph("Who leads Project Falcon, and what is its budget?")
    g.add_node("falcon", parents=[0], step=1, bank=[
        BankEntry(_text("lic", "/d/LICENSES.md", "Project Falcon notes, fictitious"), LogicState.UNCERTAIN, 0.9),
        BankEntry(_text("b1", "/d/falcon.md", "Led by Ada Okafor. Budget 3.2 million euros."), LogicState.UNCERTAIN, 0.7),
        BankEntry(_text("b2", "/d/minutes.md", "Ada Okafor set the budget at 3.2 million euros."),
                  LogicState.UNCERTAIN, 0.8),
        BankEntry(_text("half", "/d/team.md", "Ada Okafor joined in 2021."), LogicState.UNCERTAIN, 0.6)])
    g.nodes[1].bank[1].score = 5
    g.nodes[1].bank[2].score = 2
    answer = "Ada Okafor; 3.2 million euros"
    # b1 and b2 hold the whole answer: the higher memorize score first; the licence file is never cited
    assert [c["id"] for c in citations_for(g, ["1.1"], answer=answer)[0]] == ["b1", "b2"]
    # the policy's cite among the holders comes first; its cite holding part of the answer follows them
    assert [c["id"] for c in citations_for(g, ["1.3", "1.4"], answer=answer)[0]] == ["b2", "b1", "half"]
    # nothing holds a yes/no answer: the policy's cites stand
    assert [c["id"] for c in citations_for(g, ["1.4"], answer="yes")[0]] == ["half"]
