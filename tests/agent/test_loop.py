from __future__ import annotations

import json

import pytest

from vimrag.agent import prompts
from vimrag.agent.loop import AgentLoop as Agent
from vimrag.agent.methods import make_method
from vimrag.agent.methods.summary import MEMORIZE_SUMMARY
from vimrag.agent.trajectory import Trajectory
from vimrag.errors import ConfigError
from vimrag.types import Item, Locator, Modality


def J(**kw) -> str:
    return json.dumps(kw)


def test_each_step_is_reported_as_it_ends(corpus, config, scripted):
    """``on_step`` (the server's live graph) hears every retrieve / memorize step, with its node."""
    llm = scripted([
        J(action="retrieve", query="director of Jaws", parents=[0]),
        J(action="memorize", summary="Jaws was directed by Steven Spielberg.", keep=[1], scores={"1": 5}),
        "not json at all", "still not json",
        J(action="retrieve", query="Steven Spielberg born", parents=[1]),
        J(action="memorize", summary="Spielberg was born in Cincinnati, Ohio.", keep=[1], scores={"1": 5}),
        J(action="answer", answer="United States", cite=["2.1"]),
    ])
    events: list[tuple[str, dict]] = []
    res = Agent(llm, corpus, config).ask("In which country was the director of Jaws born?", method="vimrag",
                                         on_step=lambda kind, payload: events.append((kind, payload)))
    assert [k for k, _ in events] == ["retrieve", "memorize", "invalid", "retrieve", "memorize"]
    assert [p["step"] for _, p in events] == [s.index for s in res.record.steps if s.action != "answer"]
    first, memo = events[0][1], events[1][1]
    assert first["node"]["query"] == "director of Jaws" and first["node"]["bank"][0]["item_id"] == "t1"
    assert first["node"]["summary"] == "" and memo["node"]["summary"].startswith("Jaws was directed")
    assert events[3][1]["node"]["parents"] == [1] and "allocation" in memo and memo["tokens"]["prompt"] > 0
    assert events[2][1]["node"] is None and events[2][1]["error"]


def test_vimrag_end_to_end(corpus, config, scripted):
    llm = scripted([
        J(action="retrieve", query="director of Jaws", parents=[0]),
        J(action="memorize", summary="Jaws was directed by Steven Spielberg.", keep=[1], scores={"1": 5}),
        J(action="retrieve", query="Steven Spielberg born", parents=[1]),
        J(action="memorize", summary="Spielberg was born in Cincinnati, Ohio.", keep=[1], scores={"1": 5}),
        J(action="answer", answer="United States", cite=["2.1"]),
    ])
    res = Agent(llm, corpus, config).ask("In which country was the director of Jaws born?", method="vimrag")
    assert res.answer == "United States" and res.method == "vimrag"
    assert res.steps == 5 and [s.action for s in res.record.steps] == [
        "retrieve", "memorize", "retrieve", "memorize", "answer"]
    nodes = res.record.nodes
    assert [n["parents"] for n in nodes] == [[], [0], [1]]
    assert nodes[1]["summary"].startswith("Jaws was directed")
    assert nodes[1]["bank"][0]["item_id"] == "t1" and nodes[1]["bank"][0]["score"] == 5
    assert all(not e["saliency"] for e in nodes[1]["bank"][1:])
    assert res.citations == [{"id": "t2", "source": "docs/spielberg.txt", "locator": {"chunk": 3}}]
    assert res.record.answer_node == 2 and res.record.steps[-1].node == 2
    # the last decision saw the graph (summaries + budgeted kept evidence), not the dropped raw results
    last = llm.calls[-1][-1].content
    assert "n2 <- n1" in last and "[1.1] [Fact Check:" in last and "Spielberg was born" in last
    assert "barista" not in last
    # each memorize step reads what its ancestors found (n1's summary for n2; nothing for n1)
    assert "Known:" not in llm.calls[1][-1].content
    assert "Known: n1: Jaws was directed by Steven Spielberg.\nSearch: Steven Spielberg born" in llm.calls[3][-1].content
    # token accounting: the totals are the sums over steps, and equal what the model reported
    tr = res.record
    assert res.tokens["prompt"] == sum(s.prompt_tokens for s in tr.steps) > 0
    assert res.tokens["completion"] == sum(s.completion_tokens for s in tr.steps) > 0
    assert tr.allocation and all(a["tokens"] >= 0 for a in tr.allocation)
    out = res.to_json()
    assert list(out) == ["answer", "citations", "method", "steps", "tokens", "trajectory", "seconds"]
    assert out["seconds"] == round(tr.wall_s, 2) and out["seconds"] >= 0
    assert set(out["tokens"]) == {"prompt", "completion", "cached"} and out["trajectory"].endswith(".json")


def test_react_history_grows(corpus, config, scripted):
    llm = scripted([
        J(thought="need director", action="retrieve", query="director of Jaws"),
        J(thought="need birthplace", action="retrieve", query="Steven Spielberg born"),
        J(thought="done", action="answer", answer="United States", cite=["2.1"]),
    ])
    res = Agent(llm, corpus, config).ask("In which country was the director of Jaws born?", method="react")
    assert [s.action for s in res.record.steps] == ["retrieve", "retrieve", "answer"]
    prompts_ = [s.prompt_tokens for s in res.record.steps]
    assert prompts_[0] < prompts_[1] < prompts_[2]
    last = "\n".join(m.content for m in llm.calls[-1])
    assert "Observation:\n[1.1]" in last and "[2.1]" in last and "barista" in last  # raw history kept
    assert [n["parents"] for n in res.record.nodes] == [[], [0], [1]]
    assert res.citations[0]["source"] == "docs/spielberg.txt"


def test_summary_memory(corpus, config, scripted):
    llm = scripted([
        J(action="retrieve", query="director of Jaws"),
        J(action="memorize", summary="Jaws was directed by Steven Spielberg [1.1].", keep=["1.1"], scores={"1.1": 5}),
        J(action="answer", answer="Steven Spielberg"),
    ])
    res = Agent(llm, corpus, config).ask("Who directed Jaws?", method="summary")
    assert res.answer == "Steven Spielberg"
    decide = llm.calls[-1][-1].content
    assert "Notes: Jaws was directed by Steven Spielberg [1.1]." in decide and "Graph" not in decide
    # no cite: citations come from the kept, well-scored items on the answer path
    assert res.citations == [{"id": "t1", "source": "docs/jaws.txt", "locator": {"chunk": 0}}]


def test_repeat_detection_creates_no_node(corpus, config, scripted):
    llm = scripted([
        J(action="retrieve", query="director of Jaws", parents=[0]),
        J(action="memorize", summary="Spielberg.", keep=[1], scores={"1": 4}),
        J(action="retrieve", query="Jaws director of?", parents=[1]),
        J(action="answer", answer="Steven Spielberg", cite=["1"]),
    ])
    res = Agent(llm, corpus, config).ask("Who directed Jaws?", method="vimrag")
    tr = res.record
    assert len(tr.nodes) == 2 and len(corpus.queries) == 1
    assert tr.invalid_retrievals == 1
    rep = tr.steps[2]
    assert rep.action == "retrieve" and rep.repeat and rep.node == 1 and rep.retrieved == []
    assert "repeated an earlier one" in llm.calls[-1][-1].content
    assert res.citations == [{"id": "t1", "source": "docs/jaws.txt", "locator": {"chunk": 0}}]


def test_vimrag_memorizes_only_new_evidence(corpus, config, scripted):
    """A paraphrased search that finds only items the graph holds is invalid and costs no perception."""
    cfg = config.with_overrides({"agent.max_repeats": 2})
    llm = scripted([
        J(action="retrieve", query="Jaws film directed", parents=[0]),
        J(action="memorize", summary="Jaws: Spielberg.", keep=[1], scores={"1": 5}),
        J(action="retrieve", query="director Spielberg Jaws 1975", parents=[1]),  # t1, t2: t2 is new
        J(action="memorize", summary="Spielberg born in Cincinnati.", keep=[1], scores={"1": 4}),
        J(action="retrieve", query="Jaws 1975 Spielberg born", parents=[2]),  # nothing new
        J(action="answer", answer="Steven Spielberg", cite=["1.1"]),
    ])
    res = Agent(llm, corpus, cfg).ask("Who directed Jaws?", method="vimrag")
    tr = res.record
    assert [s.action for s in tr.steps] == ["retrieve", "memorize", "retrieve", "memorize", "retrieve", "answer"]
    n1, n2, n3 = tr.nodes[1:]
    assert [e["item_id"] for e in n2["bank"]] == ["t2"]  # t1 was perceived in n1 already
    assert "[2]" not in tr.steps[3].messages[-1]["content"] and "Cincinnati" in tr.steps[3].messages[-1]["content"]
    assert n3["bank"] == [] and n3["summary"].startswith("nothing new")
    assert tr.invalid_retrievals == 1
    assert "found nothing new" in llm.calls[-1][-1].content
    assert "n3 <-" not in llm.calls[-1][-1].content  # an empty node is not shown (its summary got copied)


def test_memorize_reads_each_result_focused_within_its_own_budget(corpus, config, scripted):
    """``agent.memorize_chars``: VimRAG's memorize step reads a long result cut to the sentences about the
    question and the node's search; ReAct's observation keeps ``agent.evidence_chars`` (same for all methods)."""
    filler = " ".join(f"The harbour town had {n} boats in its summer fleet." for n in range(20))
    corpus.items.append(Item("t4", "docs/amity.txt", "h6", Modality.TEXT, Locator(chunk=0),
                             text=f"{filler} The shark film Jaws was shot on Martha's Vineyard."))
    cfg = config.with_overrides({"agent.memorize_chars": 200})
    question = "Where was the film Jaws shot?"
    replies = [
        J(action="retrieve", query="Jaws shot location", parents=[0]),
        J(action="memorize", summary="Jaws was shot on Martha's Vineyard.", keep=[1], scores={"1": 5}),
        J(action="answer", answer="Martha's Vineyard", cite=["1.1"]),
    ]
    llm = scripted(list(replies))
    Agent(llm, corpus, cfg).ask(question, method="vimrag")
    seen = next(x for x in llm.calls[1][-1].content.splitlines() if "amity.txt" in x)
    assert "Martha's Vineyard" in seen and "…" in seen and len(seen) < 300
    react = scripted([
        J(thought="look it up", action="retrieve", query="Jaws shot location"),
        J(thought="done", action="answer", answer="Martha's Vineyard", cite=["1.1"]),
    ])
    Agent(react, corpus, cfg).ask(question, method="react")
    observed = next(x for x in react.calls[1][-1].content.splitlines() if "amity.txt" in x)
    assert "Martha's Vineyard" in observed and len(observed) > cfg.agent.evidence_chars
    wide = scripted(list(replies))  # a budget above the raw observation's shows no more than it
    Agent(wide, corpus, cfg.with_overrides({"agent.memorize_chars": 3000})).ask(question, method="vimrag")
    assert max(len(x) for x in wide.calls[1][-1].content.splitlines()) <= len(observed)


def test_answer_bias_reaches_only_the_decisions_that_may_retrieve(corpus, config, scripted):
    """``agent.answer_bias`` goes with every decision that may retrieve or answer, as a logit bias on the
    token "answer", in every method; memorize steps and forced answers are decoded as they are; 0 sends none."""
    replies = [
        J(action="retrieve", query="director of Jaws", parents=[0]),
        J(action="memorize", summary="Jaws was directed by Steven Spielberg.", keep=[1], scores={"1": 5}),
        J(action="answer", answer="Steven Spielberg", cite=["1.1"]),
    ]
    biased = config.with_overrides({"agent.answer_bias": 0.5})
    llm = scripted(list(replies))
    assert Agent(llm, corpus, biased).ask("Who directed Jaws?", method="vimrag").answer == "Steven Spielberg"
    assert llm.biases == [{"answer": 0.5}, None, {"answer": 0.5}]
    forced = scripted(list(replies))  # two rounds: the second decision must answer
    Agent(forced, corpus, biased.with_overrides({"agent.max_steps": 2})).ask("Who directed Jaws?", method="vimrag")
    assert forced.biases == [{"answer": 0.5}, None, None]
    react = scripted([J(thought="look", action="retrieve", query="director of Jaws"),
                      J(thought="done", action="answer", answer="Steven Spielberg", cite=["1.1"])])
    Agent(react, corpus, biased).ask("Who directed Jaws?", method="react")
    assert react.biases == [{"answer": 0.5}, {"answer": 0.5}]
    plain = scripted(list(replies))
    Agent(plain, corpus, config.with_overrides({"agent.answer_bias": 0.0})).ask("Who directed Jaws?", method="vimrag")
    assert plain.biases == [None, None, None]


def test_a_search_whose_summary_only_repeats_an_ancestor_forces_the_answer(corpus, config, scripted):
    """The demo's re-search: n2 finds new items, but its memorize summary says only what n1 said; that is
    an invalid retrieval (``agent.max_repeats`` = 1 by default), so the next decision must answer."""
    llm = scripted([
        J(action="retrieve", query="Jaws film directed", parents=[0]),
        J(action="memorize", summary="Jaws was directed by Steven Spielberg.", keep=[1], scores={"1": 5}),
        J(action="retrieve", query="Steven Spielberg Cincinnati", parents=[1]),  # t2 is new
        J(action="memorize", summary="Steven Spielberg directed Jaws.", keep=[1], scores={"1": 3}),
        J(action="answer", answer="Steven Spielberg", cite=["1.1"]),
    ])
    res = Agent(llm, corpus, config).ask("Who directed Jaws?", method="vimrag")
    tr = res.record
    assert [s.action for s in tr.steps] == ["retrieve", "memorize", "retrieve", "memorize", "answer"]
    assert tr.invalid_retrievals == 1 and res.answer == "Steven Spielberg"
    last = llm.calls[-1][-1].content
    assert "search n2 found nothing that n1 did not already say" in last and "You must answer now" in last


def test_a_summary_with_a_new_fact_is_progress(corpus, config, scripted):
    llm = scripted([
        J(action="retrieve", query="Jaws film directed", parents=[0]),
        J(action="memorize", summary="Jaws was directed by Steven Spielberg.", keep=[1], scores={"1": 5}),
        J(action="retrieve", query="Steven Spielberg Cincinnati", parents=[1]),
        J(action="memorize", summary="Steven Spielberg was born in Cincinnati.", keep=[1], scores={"1": 5}),
        J(action="answer", answer="United States", cite=["2.1"]),
    ])
    res = Agent(llm, corpus, config).ask("In which country was the director of Jaws born?", method="vimrag")
    assert res.record.invalid_retrievals == 0
    assert "You must answer now" not in llm.calls[-1][-1].content


def test_repeat_detection_with_embedder(corpus, config, scripted, bag_embedder):
    llm = scripted([
        J(action="retrieve", query="film Jaws director"),
        J(action="retrieve", query="the director of the film Jaws"),
        J(action="answer", answer="Spielberg"),
    ])
    res = Agent(llm, corpus, config, embedder=bag_embedder).ask("Who directed Jaws?", method="react")
    assert res.record.invalid_retrievals == 1 and len(res.record.nodes) == 2


def test_forced_answer_at_step_limit(corpus, config, scripted):
    cfg = config.with_overrides({"agent.max_steps": 3})
    seen = []

    def policy(messages):
        text = messages[-1].content
        seen.append(text)
        if prompts.FORCE_ANSWER in text:
            return J(action="answer", answer="Spielberg")
        if messages[0].content == MEMORIZE_SUMMARY:
            return J(action="memorize", summary=f"notes {len(seen)}")
        return J(action="retrieve", query=f"query number {len(seen)}")

    res = Agent(scripted(policy), corpus, cfg).ask("Who directed Jaws?", method="summary")
    decisions = [s for s in res.record.steps if s.action != "memorize"]
    assert [s.action for s in decisions] == ["retrieve", "retrieve", "answer"]
    assert res.answer == "Spielberg" and res.record.meta["forced"] is True


@pytest.mark.parametrize(("max_repeats", "decisions"), [(1, 3), (2, 4), (0, 5)])
def test_repeat_limit_forces_an_answer(corpus, config, scripted, max_repeats, decisions):
    cfg = config.with_overrides({"agent.max_repeats": max_repeats})  # max_steps is 5 in the fixture

    def policy(messages):
        if prompts.FORCE_ANSWER in messages[-1].content:
            return J(action="answer", answer="Spielberg")
        return J(thought="t", action="retrieve", query="director of Jaws")

    res = Agent(scripted(policy), corpus, cfg).ask("Who directed Jaws?", method="react")
    acts = [s.action for s in res.record.steps]
    assert len(acts) == decisions and acts[-1] == "answer" and set(acts[:-1]) == {"retrieve"}
    assert res.record.invalid_retrievals == decisions - 2 and res.record.meta["forced"] is True


def test_forced_answer_at_token_limit(corpus, config, scripted):
    cfg = config.with_overrides({"agent.max_tokens": 30})

    def policy(messages):
        if prompts.FORCE_ANSWER in messages[-1].content:
            return J(action="answer", answer="Spielberg")
        return J(thought="t", action="retrieve", query="director of Jaws")

    res = Agent(scripted(policy), corpus, cfg).ask("Who directed Jaws?", method="react")
    assert [s.action for s in res.record.steps] == ["retrieve", "answer"]
    assert res.record.meta["forced"] is True


def test_malformed_output_retry_then_graceful_failure(corpus, config, scripted):
    llm = scripted([
        "I will search now.",                                   # decision 1: malformed
        "still no json",                                         # retry: malformed → invalid step
        "hmm", J(action="retrieve", query="director of Jaws"),   # decision 2: malformed, retry ok
        "junk", "junk again",                                    # memorize: malformed twice → invalid, items kept
        J(action="answer", answer="Spielberg", cite=["1.1"]),
    ])
    res = Agent(llm, corpus, config).ask("Who directed Jaws?", method="vimrag")
    steps = res.record.steps
    assert [s.action for s in steps] == ["invalid", "retrieve", "invalid", "answer"]
    assert steps[0].error and "corrective retry" in steps[0].error
    assert steps[0].messages[-1]["content"].startswith("Your reply was not valid")
    assert steps[0].completion == "still no json"
    assert steps[0].completion_tokens == 4 + 3  # both attempts are counted
    assert steps[1].error is None and steps[1].messages[-2]["content"] == "hmm"
    assert steps[2].node == 1  # the failed memorize is recorded on its node
    bank = res.record.nodes[1]["bank"]
    assert all(e["saliency"] and e["score"] is None for e in bank)
    assert "last reply was invalid" in llm.calls[2][-1].content  # the policy is told after an invalid step
    assert res.answer == "Spielberg"


def test_forced_answer_malformed_falls_back_to_text(corpus, config, scripted):
    cfg = config.with_overrides({"agent.max_steps": 1})
    llm = scripted(["Steven Spielberg", "Steven Spielberg."])
    res = Agent(llm, corpus, cfg).ask("Who directed Jaws?", method="react")
    assert res.answer == "Steven Spielberg." and res.record.steps[0].action == "invalid"
    assert res.citations == []


def test_vlm_gets_images_at_allocated_resolution(corpus, config, scripted):
    llm = scripted([
        J(action="retrieve", query="cup coffee", parents=[0]),
        J(action="memorize", summary="A cup on a table; a barista pours coffee.", keep=[1, 2],
          scores={"1": 5, "2": 3}, keyframes={"1": [17.5]}),
        J(action="answer", answer="a cup", cite=["1.1", "1.2"]),
    ], supports_images=True)
    agent = Agent(llm, corpus, config)
    res = agent.ask("What is on the table?", method="vimrag")
    memorize_imgs = llm.calls[1][-1].images
    assert {i.label for i in memorize_imgs} == {"1.1", "1.2"}
    assert all(i.max_pixels == config.budget.s_total // config.agent.top_k for i in memorize_imgs)
    decide_imgs = {i.label: i.max_pixels for i in llm.calls[2][-1].images}
    alloc = {f"{a['node']}.{k}": a for k, a in enumerate(res.record.allocation, start=1)}
    assert decide_imgs and all(mp > 0 and mp % (config.budget.patch_px ** 2) == 0 for mp in decide_imgs.values())
    assert sum(a["max_pixels"] for a in alloc.values()) <= config.budget.s_total
    by_id = {a["item_id"]: a for a in res.record.allocation}
    first = res.record.nodes[1]["bank"]
    assert decide_imgs["1.1"] == by_id[first[0]["item_id"]]["max_pixels"]
    assert by_id[first[0]["item_id"]]["omega"] > by_id[first[1]["item_id"]]["omega"]
    video = next(c for c in res.citations if c["source"] == "videos/clip.mp4")
    assert video["locator"]["keyframes"] == [17.5] and video["locator"]["start"] == 10.0
    # the trajectory records images as placeholders with their budget
    assert "<image 1.1 max_pixels=" in res.record.steps[2].messages[-1]["content"]


def test_vlm_sees_the_kept_keyframes_of_a_video_sharing_its_pixels(corpus, config, scripted):
    """Memorize keeps two timestamps of the clip: the VLM then gets those two frames (labelled with their
    time), whose pixels add up to no more than the entry's allocation, instead of one thumbnail."""
    from PIL import Image

    shown: list[tuple[str, tuple[float, ...]]] = []

    def load_keyframes(item, times):
        shown.append((item.id, tuple(times)))
        return [(t, Image.new("RGB", (64, 36), (int(t * 10) % 255, 0, 0))) for t in times]

    corpus.load_keyframes = load_keyframes  # the store's keyframe media (Memory.load_keyframes)
    llm = scripted([
        J(action="retrieve", query="barista pours coffee clip", parents=[0]),
        J(action="memorize", summary="A barista pours coffee at 12 s and 17.5 s.", keep=[1],
          scores={"1": 5}, keyframes={"1": [12.0, 17.5]}),
        J(action="answer", answer="at 12 s", cite=["1.1"]),
    ], supports_images=True)
    res = Agent(llm, corpus, config).ask("When does the barista pour coffee?", method="vimrag")
    video = next(e for e in res.record.nodes[1]["bank"] if e["item_id"] == "v1")
    assert video["keyframes"] == [12.0, 17.5]
    decide = llm.calls[2][-1]
    frames = [i for i in decide.images if i.label.startswith("1.")]
    assert [i.label for i in frames] == ["1.1@12.0s", "1.1@17.5s"] and ("v1", (12.0, 17.5)) in shown
    alloc = next(a for a in res.record.allocation if a["item_id"] == "v1")
    cell = config.budget.patch_px ** 2
    assert all(i.max_pixels % cell == 0 and i.max_pixels > 0 for i in frames)
    assert sum(i.max_pixels for i in frames) <= alloc["max_pixels"]
    assert "<image 1.1@12.0s> <image 1.1@17.5s>" in decide.content


def test_text_only_policy_sees_concept_state(corpus, config, scripted):
    llm = scripted([
        J(action="retrieve", query="cup"),
        J(action="memorize", summary="cup", keep=[1], scores={"1": 5}),
        J(action="answer", answer="cup"),
    ])
    Agent(llm, corpus, config).ask("What is on the table? Is anybody there?", method="vimrag")
    memorize_prompt = llm.calls[1][-1].content
    assert "[1] [Fact Check: VERIFIED] image coffee.png (box 0,0,64,48): has cup, dining table; not person | text: CAFE" in memorize_prompt
    assert llm.calls[1][-1].images == []


def test_trajectory_contract_and_round_trip(corpus, config, scripted):
    llm = scripted([
        J(action="retrieve", query="director of Jaws", parents=[0]),
        J(action="memorize", summary="Spielberg.", keep=[1], scores={"1": 5}),
        J(action="answer", answer="Spielberg", cite=["1.1"]),
    ])
    res = Agent(llm, corpus, config).ask("Who directed Jaws?", method="vimrag")
    data = json.loads(res.trajectory.read_text())
    assert set(data) == {"version", "question", "method", "nodes", "steps", "answer", "answer_node", "citations",
                         "allocation", "tokens", "steps_taken", "invalid_retrievals", "wall_s", "meta"}
    assert data["version"] == 1 and data["method"] == "vimrag" and data["nodes"][0]["query"] == "Who directed Jaws?"
    assert set(data["nodes"][1]) == {"id", "parents", "query", "summary", "step", "bank"}
    assert set(data["nodes"][1]["bank"][0]) == {"item_id", "source", "locator", "modality", "state", "similarity",
                                                 "saliency", "score", "keyframes", "text"}
    assert set(data["steps"][0]) == {"index", "action", "node", "parents", "messages", "completion", "prompt_tokens",
                                     "completion_tokens", "cached_tokens", "seconds", "retrieved", "repeat", "error"}
    assert set(data["steps"][0]["retrieved"][0]) == {"id", "state", "similarity"}
    assert set(data["allocation"][0]) == {"item_id", "node", "omega", "tokens", "max_pixels"}
    assert data["steps"][0]["messages"][0] == {"role": "system", "content": make_method("vimrag").system_prompt("Who directed Jaws?")}
    assert Trajectory.from_json(data).to_json() == data
    assert Trajectory.load(res.trajectory).to_json() == data
    # a second run never overwrites the first
    llm2 = scripted([J(action="answer", answer="x")])
    res2 = Agent(llm2, corpus, config).ask("Who directed Jaws?", method="vimrag")
    assert res2.trajectory != res.trajectory and res.trajectory.exists()


def test_bad_input_is_a_clear_error(corpus, config, scripted):
    agent = Agent(scripted([]), corpus, config)
    with pytest.raises(ConfigError, match="empty"):
        agent.ask("  ")
    with pytest.raises(ConfigError, match="unknown agent method"):
        agent.ask("q", method="mem1")


def test_rag_searches_the_question_and_answers_in_one_call(corpus, config, scripted):
    llm = scripted([J(action="answer", answer="Steven Spielberg", cite=["1.1"])])
    res = Agent(llm, corpus, config).ask("Who directed Jaws?", method="rag")
    assert len(llm.calls) == 1 and corpus.queries == ["Who directed Jaws?"]  # one search, one model call
    assert res.answer == "Steven Spielberg" and res.method == "rag"
    assert [s.action for s in res.record.steps] == ["retrieve", "answer"]
    assert res.record.steps[0].prompt_tokens == 0  # the search is not a policy step
    assert res.citations and res.citations[0]["source"] == "docs/jaws.txt"
    prompt = llm.calls[0][-1].content
    assert "[1.1] [Fact Check:" in prompt and "jaws.txt" in prompt
    assert res.to_json()["tokens"]["prompt"] == res.record.steps[1].prompt_tokens


def test_rag_with_an_invalid_reply_still_answers_from_the_text(corpus, config, scripted):
    llm = scripted(["not json at all", "The director was Steven Spielberg."])
    res = Agent(llm, corpus, config).ask("Who directed Jaws?", method="rag")
    assert res.answer and len(llm.calls) == 2  # one corrective retry, then the fallback answer


def test_cache_reuse_and_phases_are_reported_per_step_and_in_total(corpus, config, scripted) -> None:
    """tokens.cached counts prompt tokens the server re-used (llama.cpp timings or OpenAI usage details);
    prompt tokens still count all of them (the paper's trajectory length)."""
    from vimrag.models.base import Completion

    replies = [J(action="retrieve", query="director of Jaws", parents=[0]),
               J(action="memorize", summary="Spielberg.", keep=[1], scores={"1": 5}),
               J(action="answer", answer="Steven Spielberg", cite=[])]
    raws = [{"timings": {"cache_n": 0, "prompt_n": 40, "prompt_ms": 400.0, "predicted_n": 9, "predicted_ms": 90.0}},
            {"usage": {"prompt_tokens_details": {"cached_tokens": 35}}}, {}]

    class Reporting(scripted):  # type: ignore[misc, valid-type]
        def generate(self, messages, **kw):  # noqa: ANN001, ANN003, ANN201
            c = super().generate(messages, **kw)
            return Completion(c.text, c.prompt_tokens, c.completion_tokens, raw=raws.pop(0))

    res = Agent(Reporting(replies), corpus, config).ask("Who directed Jaws?", method="vimrag", save=False)
    steps = [s.to_json() for s in res.record.steps]
    assert steps[0]["cached_tokens"] == 0 and steps[0]["prefill_tokens"] == 40 and steps[0]["decode_s"] == 0.09
    assert steps[1]["cached_tokens"] == 35 and "prefill_tokens" not in steps[1]
    assert res.tokens["cached"] == 35 and res.tokens["prompt"] == sum(s["prompt_tokens"] for s in steps) > 35
    assert res.record.from_json(res.record.to_json()).steps[0].phases["prefill_s"] == 0.4


@pytest.mark.parametrize("method", ["vimrag", "react", "summary"])
def test_question_first_searches_the_question_as_node_1_for_every_agent(corpus, config, scripted, method):
    """agent.question_first: n1 is the question itself, searched with no policy call, and each method's
    memory holds its results before the first decision (ReAct's opening message carries the question)."""
    cfg = config.with_overrides({"agent.question_first": True})
    q = "In which country was the director of Jaws born?"
    memo = J(action="memorize", summary="Jaws was directed by Steven Spielberg [1.1].", keep=[1], scores={"1": 5})
    replies = ([memo] if method != "react" else []) + [J(action="answer", answer="United States", cite=["1.1"])]
    llm = scripted(replies)
    res = Agent(llm, corpus, cfg).ask(q, method=method)
    steps = res.record.steps
    assert steps[0].action == "retrieve" and steps[0].prompt_tokens == 0 and steps[0].node == 1
    assert res.record.nodes[1]["query"] == q and res.record.nodes[1]["parents"] == [0]
    first_decision = llm.calls[-1]  # the answer decision: it already sees the question's results
    text = "\n".join(m.content for m in first_decision if m.role != "system")
    assert text.count(f"Question: {q}") == 1
    assert "Spielberg" in text
    assert res.answer == "United States"


@pytest.mark.parametrize("method", ["rag", "vimrag"])
def test_abstention_is_the_one_phrase_and_cites_nothing(corpus, config, scripted, method):
    """With ``agent.abstain`` an answer that says the evidence lacks it comes back as "Not answerable",
    with no citation; the policy was told the phrase."""
    cfg = config.with_overrides({"agent.abstain": True, "agent.question_first": True})
    replies = [J(action="answer", answer="The results do not say.", cite=["1.1"])]
    if method == "vimrag":
        replies.insert(0, J(action="memorize", summary="Nothing about the budget.", keep=[], scores={"1": 1}))
    llm = scripted(replies)
    res = Agent(llm, corpus, cfg).ask("What was the 2031 budget of the shark survey?", method=method)
    assert res.answer == prompts.NOT_ANSWERABLE and res.citations == []
    assert prompts.ABSTAIN_RULE in llm.calls[-1][0].content
    kept = Agent(scripted([J(action="answer", answer="The results do not say.", cite=["1.1"])]), corpus,
                 config.with_overrides({"agent.question_first": True})).ask("What was the 2031 budget?", method="rag")
    assert kept.answer == "The results do not say."  # off: the model's words, as before
