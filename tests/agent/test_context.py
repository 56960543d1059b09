from __future__ import annotations

import json

import pytest

from vimrag.agent.context import second_hop
from vimrag.agent.loop import AgentLoop as Agent
from vimrag.config import Config
from vimrag.errors import ConfigError


def ids(result) -> list[str]:
    return [h.item.id for h in result.hits]


def test_no_hop_is_the_plain_search(corpus):
    plain = corpus.search("director of Jaws", 3)
    assert ids(second_hop(corpus, "director of Jaws", 3, 0, 400)) == ids(plain) == ["t1", "v1"]
    assert len(corpus.queries) == 2  # the plain search above, and one inside: no second search


def test_the_second_hop_brings_the_bridge_passages_partner(corpus):
    """"director of Jaws" shares no word with the Spielberg passage; the Jaws passage names him."""
    res = second_hop(corpus, "director of Jaws", 2, 1, 400)
    assert ids(res) == ["t1", "t2"]
    assert corpus.queries[-1] == "director of Jaws Jaws is a 1975 film directed by Steven Spielberg."
    short = second_hop(corpus, "director of Jaws", 2, 1, 12)
    assert corpus.queries[-1] == "director of Jaws Jaws is a 19" and ids(short) == ["t1", "v1"]  # cut before the name


def test_kept_places_stay_and_nothing_repeats(corpus):
    first = ids(corpus.search("Steven Spielberg film sharks", 3))
    res = ids(second_hop(corpus, "Steven Spielberg film sharks", 3, 1, 400))
    assert res[:2] == first[:2] and len(res) == len(set(res)) <= 3
    assert set(res) <= {"t1", "t2", "t3"}


def test_a_photo_at_the_top_is_no_bridge(corpus):
    res = second_hop(corpus, "cup", 3, 2, 400)
    assert ids(res)[0] == "i1" and corpus.queries == ["cup"]


def test_the_agent_retrieves_with_the_configured_hop(corpus, config, scripted):
    """With ``agent.second_hop`` the one-call rag answers from both passages of a two-hop question."""
    llm = scripted([json.dumps({"action": "answer", "answer": "United States", "cite": ["1.2"]})])
    cfg = config.with_overrides({"agent.question_first": True, "agent.top_k": 2, "agent.second_hop": 1})
    res = Agent(llm, corpus, cfg).ask("director of Jaws", method="rag")
    assert [e["item_id"] for e in res.record.nodes[1]["bank"]] == ["t1", "t2"]
    assert "Cincinnati" in llm.calls[0][-1].content
    plain = Agent(scripted(['{"action": "answer", "answer": "x", "cite": []}']), corpus,
                  config.with_overrides({"agent.question_first": True, "agent.top_k": 2})).ask("director of Jaws", method="rag")
    assert [e["item_id"] for e in plain.record.nodes[1]["bank"]] == ["t1", "v1"]


@pytest.mark.parametrize("hop,k", [(5, 5), (-1, 5), (3, 2)])
def test_a_hop_must_leave_room_for_the_first_search(hop, k):
    with pytest.raises(ConfigError, match="second_hop"):
        Config().with_overrides({"agent.second_hop": hop, "agent.top_k": k})
