from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.doubles import ScriptedLLM
from vimrag.errors import ServerUnreachableError
from vimrag.polar.query import parse_query, parse_rules

CASES = [
    ("a slide with a bar chart but no table", ["bar chart"], ["table"]),
    ("the photo with a cup but no person", ["cup"], ["person"]),
    ("dogs without leashes", ["dog"], ["leash"]),
    ("a kitchen, except for the refrigerator", ["kitchen"], ["refrigerator"]),
    ("cats but not dogs", ["cat"], ["dog"]),
    ("a street excluding cars and buses", ["street"], ["car", "bus"]),
    ("a bowl of fruit that doesn't have bananas", ["bowl", "fruit"], ["banana"]),
    ("a beach with no people", ["beach"], ["person"]),
    ("a desk free of clutter", ["desk"], ["clutter"]),
    ("pizza not pineapple", ["pizza"], ["pineapple"]),
    ("a red car and a bicycle but no trucks or motorcycles", ["red car", "bicycle"], ["truck", "motorcycle"]),
    ("find a man riding a horse, no dogs", ["man", "horse"], ["dog"]),
    ("a table with wine glasses, without any bottles", ["table", "wine glass"], ["bottle"]),
    ("the page that does not contain a chart", [], ["chart"]),
    ("photos of birds other than pigeons", ["bird"], ["pigeon"]),
    ("a living room without a tv but with a couch", ["living room", "couch"], ["tv"]),
    ("traffic lights which don't have cars near them", ["traffic light"], ["car"]),
    ("a mug with no one around", ["mug"], ["person"]),
    ("a bicycle but nobody riding it", ["bicycle"], ["person"]),
    ("a boat on the lake, nobody aboard", ["boat", "lake"], ["person"]),
    ("a bench with no-one on it and a dog", ["bench", "dog"], ["person"]),
    ("a street with cars but no pedestrians in sight", ["street", "car"], ["pedestrian"]),
    ("a car-free street", ["street"], ["car"]),
    ("dog -person", ["dog"], ["person"]),
    ("dog NOT person", ["dog"], ["person"]),
    ("a dog w/o people, absolutely no cats", ["dog"], ["person", "cat"]),
    ("a cup", ["cup"], []),
    ("an image showing a cat", ["cat"], []),
]


@pytest.mark.parametrize(("query", "pos", "neg"), CASES)
def test_rule_parser(query: str, pos: list[str], neg: list[str]) -> None:
    p = parse_rules(query)
    assert p.positive == pos
    assert p.negative == neg


def test_embed_text_drops_a_minus_word_but_keeps_a_free_compound() -> None:
    assert parse_rules("dog -person").embed_text == "dog"
    assert parse_rules("a car-free street").embed_text == "a car-free street"
    assert parse_rules("1990 - 1995 films").negative == []  # a dash between words negates nothing


def test_embed_text_drops_the_negated_span() -> None:
    p = parse_rules("the photo with a cup but no person")
    assert "person" not in p.embed_text and "cup" in p.embed_text
    assert parse_rules("no person").embed_text == "no person"  # nothing positive: embed the query itself


def test_llm_json_is_used_and_normalized() -> None:
    p = parse_query("cup no person", ScriptedLLM([{"positive": ["Cups"], "negative": ["People"]}]))
    assert (p.positive, p.negative, p.parser) == (["cup"], ["person"], "llm")


@pytest.mark.parametrize("reply", [None, "garbage", {"positive": "cup"}, {}, ValueError("no JSON in the reply")])
def test_bad_llm_output_falls_back_to_rules(reply) -> None:
    p = parse_query("the photo with a cup but no person", ScriptedLLM([reply]))
    assert (p.positive, p.negative, p.parser) == (["cup"], ["person"], "rules")


def test_a_dead_parser_server_surfaces() -> None:
    """A dead model server is not hidden behind the rule parser: the user must learn the server is down."""
    with pytest.raises(ServerUnreachableError):
        parse_query("cup no person", ScriptedLLM([ServerUnreachableError("127.0.0.1:9 refused the connection")]))


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_the_rule_parser_takes_any_text(text: str) -> None:
    p = parse_rules(text)
    assert all(isinstance(c, str) and c for c in p.positive + p.negative)
