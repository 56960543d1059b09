"""The one lenient JSON parser: objects in prose, braces inside strings, near-JSON from small models."""

from __future__ import annotations

import pytest

from vimrag.models.jsonparse import JSONExtractionError, json_objects, parse_json_loose


def test_every_object_in_prose_in_order() -> None:
    text = 'Thought: search first.\n{"action": "retrieve", "query": "a"} then {"action": "answer", "answer": "b"}'
    assert [o["action"] for o in json_objects(text)] == ["retrieve", "answer"]


def test_braces_and_commas_inside_strings_are_text() -> None:
    text = '{"action": "answer", "answer": "use {x}, not ]", "cite": ["1.1",]}'
    assert json_objects(text) == [{"action": "answer", "answer": "use {x}, not ]", "cite": ["1.1"]}]
    assert parse_json_loose("```json\n" + text + "\n```")["answer"] == "use {x}, not ]"


def test_single_quotes_and_a_reply_cut_off_before_its_braces() -> None:
    assert json_objects("{'action': 'answer', 'answer': 'Paris'}") == [{"action": "answer", "answer": "Paris"}]
    cut = '{"action": "memorize", "summary": "s", "scores": {"1": 5'
    assert json_objects(cut) == [{"action": "memorize", "summary": "s", "scores": {"1": 5}}]


def test_no_json_is_an_empty_list_or_a_clear_error() -> None:
    assert json_objects("I think the answer is Paris.") == []
    with pytest.raises(JSONExtractionError, match="no JSON"):
        parse_json_loose("I think the answer is Paris.")
