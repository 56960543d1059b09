"""Candidate answer selection (PolarMem Appendix B): sampled candidates, an index-only choice, 0 by default."""

from __future__ import annotations

import json

from vimrag.agent.candidates import parse_index
from vimrag.agent.loop import AgentLoop as Agent


def J(**kw) -> str:
    return json.dumps(kw)


def _script(selection: str) -> list[str]:
    return [
        J(action="retrieve", query="director of Jaws", parents=[0]),
        J(action="memorize", summary="Jaws was directed by Steven Spielberg.", keep=[1], scores={"1": 5}),
        J(action="answer", answer="Spielberg", cite=["1.1"]),  # the greedy answer: candidate 0
        J(action="answer", answer="Steven Spielberg", cite=["1.1"]),  # sampled: candidate 1
        J(action="answer", answer="spielberg.", cite=[]),  # the same as 0: dropped
        "not an answer",  # a sample that parses as no answer: dropped
        selection,
    ]


def test_the_model_picks_a_candidate_by_index_and_every_call_counts(corpus, config, scripted) -> None:
    cfg = config.with_overrides({"agent.answer_candidates": 4})
    llm = scripted(_script("1"))
    res = Agent(llm, corpus, cfg).ask("Who directed Jaws?", method="vimrag", save=False)
    assert res.answer == "Steven Spielberg"
    last = res.record.steps[-1]
    assert last.candidates == ["Spielberg", "Steven Spielberg"] and last.selected == 1
    assert last.to_json()["selected"] == 1
    assert len(llm.calls) == 7 and res.tokens["prompt"] == sum(s.prompt_tokens for s in res.record.steps)
    choose = llm.calls[-1][-1].content
    assert "0. Spielberg\n1. Steven Spielberg" in choose and "number only" in choose
    assert llm.calls[-1][:-2] == llm.calls[2]  # the choice follows the same evidence (a shared KV prefix)


def test_an_unusable_choice_keeps_the_greedy_answer(corpus, config, scripted) -> None:
    cfg = config.with_overrides({"agent.answer_candidates": 4})
    res = Agent(scripted(_script("the second one")), corpus, cfg).ask("Who directed Jaws?", method="vimrag",
                                                                    save=False)
    assert res.answer == "Spielberg" and res.record.steps[-1].selected == 0


def test_off_by_default_one_call_per_answer(corpus, config, scripted) -> None:
    llm = scripted(_script("1")[:3])
    res = Agent(llm, corpus, config).ask("Who directed Jaws?", method="vimrag", save=False)
    assert res.answer == "Spielberg" and len(llm.calls) == 3 and "candidates" not in res.record.steps[-1].to_json()


def test_parse_index() -> None:
    assert parse_index("2", 3) == 2 and parse_index(" 1.", 3) == 1 and parse_index("Candidate 0", 3) == 0
    assert parse_index("7", 3) == 0 and parse_index("", 3) == 0 and parse_index("none", 3) == 0
