"""The answer rule follows the question: file names only for questions that ask for a source."""

from __future__ import annotations

import pytest

from vimrag.agent import prompts
from vimrag.agent.methods import make_method
from vimrag.errors import ConfigError

SOURCE_QUESTIONS = [
    "Which photo shows a cup but no person?",
    "which slide has a bar chart but no table",
    "What page of the report gives the 2019 revenue?",
    "In which video does a bird appear?",
    "On which page is the revenue table?",
    "Which two pictures show a dog?",
]
FACT_QUESTIONS = [
    "Who directed Jaws?",
    "Which country was the director of Jaws born in?",
    "What is the name of the fight song of the university whose main campus is in Lawrence?",
    "Which band released the album first?",
    "At what age did he retire?",
]


TIME_QUESTIONS = [
    "At what time in the Big Buck Bunny clip does the rabbit climb out and stretch?",
    "When in the video does the bird land?",
    "what timestamp shows the goal",
]


@pytest.mark.parametrize("question", SOURCE_QUESTIONS)
def test_source_questions_get_the_file_name_rule(question):
    assert prompts.asks_for_source(question)
    for method in ("vimrag", "react", "summary"):
        text = make_method(method).system_prompt(question)
        assert prompts.SOURCE_RULE in text and prompts.FACT_RULE not in text
        assert "Which photo shows a dog?" in text and "park.jpg" in text
        assert "{" + "answer_rule}" not in text and "{" + "source_example}" not in text
    assert prompts.force_answer(question).endswith(prompts.SOURCE_RULE)


@pytest.mark.parametrize("question", TIME_QUESTIONS)
def test_time_questions_ask_for_the_time_not_a_file_name(question):
    assert prompts.asks_for_time(question) and not prompts.asks_for_source(question)
    for method in ("vimrag", "react", "summary"):
        text = make_method(method).system_prompt(question)
        assert prompts.TIME_RULE in text
        assert prompts.SOURCE_RULE not in text and prompts.FACT_RULE not in text and "park.jpg" not in text
    assert prompts.force_answer(question).endswith(prompts.TIME_RULE)


def test_a_question_that_asks_for_a_photo_and_a_time_gets_both_rules():
    q = "Which photo shows a cup but no person, and at what time in the clip does the rabbit stretch?"
    text = make_method("vimrag").system_prompt(q)
    assert prompts.SOURCE_RULE in text and prompts.TIME_RULE in text and "park.jpg" in text


@pytest.mark.parametrize("question", FACT_QUESTIONS)
def test_fact_questions_are_told_not_to_answer_with_a_file(question):
    assert not prompts.asks_for_source(question)
    for method in ("vimrag", "react", "summary"):
        text = make_method(method).system_prompt(question)
        assert prompts.FACT_RULE in text and prompts.SOURCE_RULE not in text
        assert "park.jpg" not in text  # the file-name example is not shown either
        assert "director of Jaws" in text  # the multi-hop example always is
    forced = prompts.force_answer(question)
    assert forced.startswith(prompts.FORCE_ANSWER) and forced.endswith(prompts.FACT_RULE)


def test_unknown_method_is_an_error():
    with pytest.raises(ConfigError, match="unknown agent method"):
        make_method("bogus").system_prompt("Who directed Jaws?")


def test_a_question_that_asks_two_things_gets_both_named() -> None:
    q = "Who leads the harbour project, and what is its budget?"
    assert prompts.question_parts(q) == ["Who leads the harbour project", "what is its budget"]
    rule = prompts.answer_rule(q)
    assert prompts.FACT_RULE in rule and '(1) "Who leads the harbour project"' in rule and '(2) "what is its budget"' in rule
    assert prompts.question_parts("which quarter had the highest revenue, and how much?")[1] == "how much"
    # one question with "and" inside it stays one
    for one in ("Were Scott Derrickson and Ed Wood of the same nationality?", "Which photo shows a cat and a dog?"):
        assert prompts.question_parts(one) == [one.rstrip("?")] and "things" not in prompts.answer_rule(one)


@pytest.mark.parametrize("method", ["rag", "react", "summary", "vimrag"])
def test_abstain_rule_only_when_asked(method: str) -> None:
    q = "Who directed Jaws?"
    on, off = make_method(method).system_prompt(q, abstain=True), make_method(method).system_prompt(q)
    assert prompts.ABSTAIN_RULE in on and prompts.ABSTAIN_RULE not in off
    assert "{no_answer}" not in on + off  # rag's own "say so" sentence is filled in or dropped
    assert ("say so in a few words" in off) == (method == "rag") and "say so in a few words" not in on
    assert prompts.force_answer(q, abstain=True).endswith(prompts.ABSTAIN_RULE)


@pytest.mark.parametrize("said", ["Not answerable", "not answerable.", "Unanswerable", "Unknown",
                                  "The results do not contain the answer.", "The evidence does not say who",
                                  "No information about the 2020 survey", '"Not answerable"', "Not mentioned"])
def test_abstentions_become_the_one_phrase(said: str) -> None:
    assert prompts.canonical_answer(said) == prompts.NOT_ANSWERABLE


@pytest.mark.parametrize("answer", ["Steven Spielberg", "No", "Unknown Pleasures", "not guilty", "No Doubt",
                                    "The results were published in 2019"])
def test_answers_stay_answers(answer: str) -> None:
    assert prompts.canonical_answer(answer) == answer
