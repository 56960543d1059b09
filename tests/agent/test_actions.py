from __future__ import annotations

import pytest

from vimrag.agent.actions import ActionError, Answer, Memorize, Retrieve, parse_action, parse_cite


def test_plain_json_retrieve():
    a = parse_action('{"action": "retrieve", "query": "director of Jaws", "parents": [0, "n1"]}')
    assert isinstance(a, Retrieve) and a.query == "director of Jaws" and a.parents == [0, "n1"]


def test_json_in_fence_with_chatter():
    text = 'Sure!\n```json\n{"action": "answer", "answer": "United States", "cite": ["2.1"]}\n```\nDone.'
    a = parse_action(text)
    assert isinstance(a, Answer) and a.answer == "United States" and a.cite == ["2.1"]


def test_memorize_fields_and_clamping():
    a = parse_action('{"action":"memorize","summary":"S","keep":[1,"3"],"scores":{"1":5,"3":9},'
                     '"keyframes":{"2":[12, "17.5"]}}', ("memorize",))
    assert isinstance(a, Memorize)
    assert a.keep == [1, 3] and a.scores == {1: 5, 3: 5} and a.keyframes == {2: [12.0, 17.5]}


def test_scores_as_list_and_dotted_refs():
    a = parse_action('{"action":"memorize","summary":"x","keep":["2.1","2.3"],"scores":[4, 1, 2]}', ("memorize",))
    assert a.keep == [1, 3] and a.scores == {1: 4, 2: 1, 3: 2}


def test_lenient_json_single_quotes_and_trailing_comma():
    a = parse_action("{'action': 'retrieve', 'query': 'cups',}")
    assert isinstance(a, Retrieve) and a.query == "cups"


def test_tag_formats():
    assert parse_action("<think>hmm</think><search>Spielberg birthplace</search>").query == "Spielberg birthplace"
    a = parse_action("<answer>Cincinnati</answer>")
    assert isinstance(a, Answer) and a.answer == "Cincinnati"


def test_action_key_missing_is_inferred():
    assert isinstance(parse_action('{"query": "x"}'), Retrieve)
    assert isinstance(parse_action('{"answer": 42}'), Answer)


def test_not_allowed_action_is_an_error():
    with pytest.raises(ActionError, match="not allowed"):
        parse_action('{"action": "retrieve", "query": "x"}', ("answer",))


def test_empty_query_and_garbage_are_errors():
    with pytest.raises(ActionError, match="non-empty"):
        parse_action('{"action": "retrieve", "query": ""}')
    with pytest.raises(ActionError, match="no action found"):
        parse_action("I think the answer might be something.")


def test_first_allowed_object_wins():
    text = '{"action":"retrieve","query":"a"} {"action":"answer","answer":"b"}'
    assert isinstance(parse_action(text, ("answer",)), Answer)


def test_parse_cite():
    assert parse_cite("2.1") == (2, 1)
    assert parse_cite("[n3.2]") == (3, 2)
    assert parse_cite("n4") == (4, None)
    assert parse_cite("none") == (None, None)
