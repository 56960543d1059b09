"""agent.visual_memory: the pilot study's memory strategies (VimRAG §2) in the decision prompt."""

from __future__ import annotations

import json

import pytest

from vimrag.agent.loop import AgentLoop as Agent
from vimrag.errors import ConfigError


def J(**kw) -> str:
    return json.dumps(kw)


def _graph_prompt(corpus, config, scripted, strategy: str, vlm: bool = False):
    llm = scripted([
        J(action="retrieve", query="director of Jaws", parents=[0]),
        J(action="memorize", summary="Jaws was directed by Steven Spielberg.", keep=[1], scores={"1": 5}),
        J(action="answer", answer="Steven Spielberg", cite=["1.1"]),
    ], supports_images=vlm)
    cfg = config.with_overrides({"agent.visual_memory": strategy})
    res = Agent(llm, corpus, cfg).ask("Who directed Jaws?", method="vimrag", save=False)
    assert res.answer == "Steven Spielberg"
    return llm.calls[2][-1], res


@pytest.mark.parametrize("strategy, shown, allocated", [
    ("selective", {"1.1"}, True),  # VimRAG: the kept item, budgeted
    ("raw", "all", False),  # every retrieved item, kept or not
    ("pre_caption", "all", False),
    ("context_caption", set(), False),  # the summary alone
])
def test_each_strategy_holds_the_evidence_its_way(corpus, config, scripted, strategy, shown, allocated) -> None:
    msg, res = _graph_prompt(corpus, config, scripted, strategy)
    text = msg.content
    assert "Jaws was directed by Steven Spielberg." in text
    refs = {f"1.{i}" for i in range(1, 6) if f"[1.{i}]" in text}
    assert refs == (refs | {"1.1", "1.2"} if shown == "all" else shown)
    if shown == "all":
        assert len(refs) >= 2
    assert bool(res.record.allocation) == allocated


def test_raw_gives_a_vlm_every_image_at_an_equal_share(corpus, config, scripted) -> None:
    msg, _ = _graph_prompt(corpus, config, scripted, "raw", vlm=True)
    pre, _ = _graph_prompt(corpus, config, scripted, "pre_caption", vlm=True)
    assert pre.images == []  # a caption strategy never sends pixels
    assert msg.images and all(i.max_pixels == config.budget.s_total // config.agent.top_k for i in msg.images)


def test_unknown_strategy_is_a_config_error(config) -> None:
    with pytest.raises(ConfigError, match="visual_memory"):
        config.with_overrides({"agent.visual_memory": "pixels"})
