"""The agent loop shared by every method: same retrieval, same model, same tools; only memory differs.

One decision per round (``retrieve`` or ``answer``); after a retrieval the method updates its memory —
VimRAG and the summary baseline with a ``memorize`` step of the policy, ReAct by appending the raw
observation. ``AgentConfig.max_steps`` bounds the decision rounds (so every method gets the same number
of retrievals; memorize steps are recorded and counted in ``steps`` but not against that limit) and
``AgentConfig.max_tokens`` bounds prompt + completion tokens, ``AgentConfig.max_repeats`` the repeated
retrievals; hitting any of them forces an answer from what the memory holds.

>>> agent = AgentLoop(llm, memory, config)                                      # doctest: +SKIP
>>> result = agent.ask("Which cup is on the table?", method="vimrag")       # doctest: +SKIP
>>> result.to_json()["citations"]                                           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vimrag.agent import prompts
from vimrag.agent.actions import Answer, Retrieve
from vimrag.agent.candidates import select_answer
from vimrag.agent.citations import citations_for
from vimrag.agent.context import Retriever
from vimrag.agent.episode import Episode
from vimrag.agent.grounding import grounded_answer
from vimrag.agent.methods import make_method
from vimrag.agent.trajectory import TOKEN_KEYS, StepRecord, Trajectory, nodes_to_json
from vimrag.config import Config
from vimrag.errors import ConfigError
from vimrag.models.base import LanguageModel, TextEmbedder


@dataclass
class AgentResult:
    answer: str
    citations: list[dict[str, Any]]
    method: str
    steps: int
    tokens: dict[str, int]
    trajectory: Path | None  # where the trajectory JSON was saved (None with ``save=False``)
    record: Trajectory  # the trajectory itself

    def to_json(self) -> dict[str, Any]:
        """The ``vimrag ask --json`` object (also each answer of ``vimrag demo --json`` and the server's)."""
        return {
            "answer": self.answer,
            "citations": [{"source": c["source"], "locator": dict(c["locator"]), **({"id": c["id"]} if "id" in c else {})}
                          for c in self.citations],
            "method": self.method,
            "steps": self.steps,
            "tokens": {k: int(self.tokens.get(k, 0)) for k in TOKEN_KEYS},
            "trajectory": str(self.trajectory) if self.trajectory else None,
            "seconds": round(float(self.record.wall_s), 2),  # the question's wall time (issue 13)
        }


#: ``on_event(kind, payload)``: told of each step as it ends (``retrieve``, ``memorize``, ``invalid``).
StepListener = Callable[[str, dict[str, Any]], None]


class _StepFeed:
    """Tells a listener about the steps an episode recorded since the last call (a live view of the graph).

    The payload is what a person watching the agent needs: the step, its node as the trajectory stores it
    (sub-query, parents, summary, bank with states and saliency), and the current visual allocation.
    The answer step is not sent: the caller has the result, with its citations, when ``ask`` returns.
    """

    def __init__(self, ep: Episode, listener: StepListener | None) -> None:
        self.ep, self.listener, self.sent = ep, listener, 0

    def __call__(self) -> None:
        if self.listener is None:
            return
        nodes = None
        for step in self.ep.steps[self.sent:]:
            if step.action == "answer":
                continue
            nodes = nodes or nodes_to_json(self.ep.graph)
            node = nodes[step.node] if step.node is not None and 0 <= step.node < len(nodes) else None
            self.listener(step.action, {
                "step": step.index, "node": node, "parents": list(step.parents), "repeat": step.repeat,
                "error": step.error, "seconds": round(step.seconds, 3),
                "allocation": [a.to_json() for a in self.ep.allocation],
                "tokens": self.ep.tokens(),
            })
        self.sent = len(self.ep.steps)


def _fallback_answer(text: str) -> str:
    """Best effort when even the forced answer is malformed: the first non-empty line, unwrapped."""
    for line in text.strip().splitlines():
        line = line.strip().strip("`{}[]\"' ")
        if line:
            return line[:200]
    return ""


class AgentLoop:
    """The loop every method shares, over a retriever (the polarized memory) and a policy model.

    The public entry point is :class:`vimrag.Agent` (``vimrag.ask``), which builds one of these over a
    ``Memory``; this class is what the eval harness, the GGPO rollouts and the tests drive directly.
    """

    def __init__(
        self,
        llm: LanguageModel,
        retriever: Retriever,
        config: Config | None = None,
        *,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self.llm = llm
        self.retriever = retriever
        self.config = config or Config()
        self.embedder = embedder

    def ask(
        self, question: str, method: str | None = None, *, save: bool = True, on_step: StepListener | None = None
    ) -> AgentResult:
        """Answer ``question``; ``on_step`` (optional) hears each retrieve / memorize step as it ends."""
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        name = method or self.config.agent.method
        impl = make_method(name)
        ep = Episode(question.strip(), self.llm, self.retriever, self.config, self.embedder)
        feed = _StepFeed(ep, on_step)
        t0 = time.perf_counter()
        answer, cite, forced = "", [], False
        if impl.search_question_first or self.config.agent.question_first:  # node n1 = the question itself,
            # searched without a policy call: every trajectory starts from what one-call RAG sees
            record = StepRecord(index=len(ep.steps), action="retrieve")
            ep.steps.append(record)
            first = ep.retrieve(ep.question, [0], record)
            feed()
            if first is not None:
                impl.on_retrieved(ep, first)
                feed()
        rounds = impl.max_decisions or self.config.agent.max_steps
        for round_ in range(max(1, rounds)):
            forced = round_ == rounds - 1 or ep.over_budget() or ep.repeats_exhausted()
            allowed = ("answer",) if forced else ("retrieve", "answer")
            messages = impl.decide_messages(ep, forced)
            action, record = ep.policy(messages, allowed)
            impl.after_decision(ep, action, record)
            if not isinstance(action, Retrieve):  # a retrieve is sent once its node exists
                feed()
            if isinstance(action, Answer):
                if self.config.agent.grounding:
                    action = grounded_answer(ep, messages, action, record)
                if self.config.agent.answer_candidates > 1:
                    action = select_answer(ep, messages, action, record)
                answer, cite = action.answer, action.cite
                break
            if action is None:
                if forced:
                    answer = _fallback_answer(record.completion)
                    break
                ep.note = f"Note: your last reply was invalid ({record.error}). Reply with ONE JSON object."
                continue
            assert isinstance(action, Retrieve)
            node = ep.retrieve(action.query, impl.parents(ep, action), record)
            if node is None:
                impl.on_repeat(ep, action, record.node if record.node is not None else 0)
                feed()
                continue
            feed()
            impl.on_retrieved(ep, node)
            feed()
        agent_cfg = self.config.agent
        if agent_cfg.abstain:
            answer = prompts.canonical_answer(answer)
        citations: list[dict[str, Any]] = []  # an abstention cites nothing: nothing holds its answer
        answer_node: int | None = None
        if not (agent_cfg.abstain and answer == prompts.NOT_ANSWERABLE):
            citations, answer_node = citations_for(ep.graph, cite, agent_cfg.max_citations, agent_cfg.relevant_score,
                                                   answer, agent_cfg.attribute_citations)
        if ep.steps and ep.steps[-1].action == "answer":
            ep.steps[-1].node = answer_node
        traj = Trajectory(
            question=ep.question, method=name, nodes=nodes_to_json(ep.graph), steps=ep.steps, answer=answer,
            answer_node=answer_node, citations=citations, allocation=[a.to_json() for a in ep.allocation],
            tokens=ep.tokens(), steps_taken=len(ep.steps),
            invalid_retrievals=ep.invalid_retrievals, wall_s=time.perf_counter() - t0,
            meta={
                "model": getattr(self.llm, "name", type(self.llm).__name__), "vlm": ep.vlm,
                "agent": dataclasses.asdict(self.config.agent), "budget": dataclasses.asdict(self.config.budget), "media": ep.media,
                "forced": forced,
            },
        )
        path = traj.save(self.config.agent.trajectories_dir) if save else None
        return AgentResult(answer, citations, name, len(ep.steps), ep.tokens(), path, traj)

