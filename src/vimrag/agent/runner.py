"""The agent loop shared by the three methods: same retrieval, same model, same tools; only memory differs.

One decision per round (``retrieve`` or ``answer``); after a retrieval the method updates its memory —
VimRAG and the summary baseline with a ``memorize`` step of the policy, ReAct by appending the raw
observation. ``AgentConfig.max_steps`` bounds the decision rounds (so every method gets the same number
of retrievals; memorize steps are recorded and counted in ``steps`` but not against that limit) and
``AgentConfig.max_tokens`` bounds prompt + completion tokens, ``AgentConfig.max_repeats`` the repeated
retrievals; hitting any of them forces an answer from what the memory holds.

>>> agent = Agent(llm, memory, config)                                      # doctest: +SKIP
>>> result = agent.ask("Which cup is on the table?", method="vimrag")       # doctest: +SKIP
>>> result.to_json()["citations"]                                           # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from vimrag.agent import prompts
from vimrag.agent.actions import Action, ActionError, Answer, Memorize, Retrieve, example_for, parse_action
from vimrag.agent.budget import Allocation
from vimrag.agent.citations import citations_for
from vimrag.agent.context import Retriever, bank_from_hits
from vimrag.agent.graph import BankEntry, MemoryGraph, MemoryNode
from vimrag.agent.trajectory import StepRecord, Trajectory, nodes_to_json
from vimrag.config import Config
from vimrag.errors import ConfigError
from vimrag.models.base import ImageInput, LanguageModel, Message, TextEmbedder

METHODS = ("vimrag", "react", "summary")


class Method(Protocol):
    """A memory strategy plugged into the shared loop (``vimrag.py``, ``react.py``, ``summary.py``)."""

    name: str

    def decide_messages(self, ep: Episode, forced: bool) -> list[Message]: ...

    def after_decision(self, ep: Episode, action: Action | None, record: StepRecord) -> None: ...

    def parents(self, ep: Episode, action: Retrieve) -> list[int]: ...

    def on_retrieved(self, ep: Episode, node: MemoryNode) -> None: ...

    def on_repeat(self, ep: Episode, action: Retrieve, duplicate_of: int) -> None: ...


def make_method(name: str) -> Method:
    if name == "vimrag":
        from vimrag.agent.vimrag import VimRAGMethod

        return VimRAGMethod()
    if name == "react":
        from vimrag.agent.react import ReActMethod

        return ReActMethod()
    if name == "summary":
        from vimrag.agent.summary import SummaryMethod

        return SummaryMethod()
    raise ConfigError(f"unknown agent method {name!r}; choose one of: {', '.join(METHODS)}")


def message_record(m: Message) -> dict[str, str]:
    """A message as the trajectory keeps it: text, with each image as a placeholder naming its budget."""
    content = m.content
    for img in m.images:
        content += f"\n<image {img.label} max_pixels={img.max_pixels}>"
    return {"role": m.role, "content": content}


@dataclass
class Episode:
    """The state of one question: the graph, the step records, token totals and the policy call."""

    question: str
    llm: LanguageModel
    retriever: Retriever
    config: Config
    embedder: TextEmbedder | None = None
    graph: MemoryGraph = field(init=False)
    steps: list[StepRecord] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    invalid_retrievals: int = 0
    note: str | None = None
    allocation: list[Allocation] = field(default_factory=list)
    media: dict[str, str] = field(default_factory=dict)
    _images: dict[str, Image.Image | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.graph = MemoryGraph(self.question)

    @property
    def vlm(self) -> bool:
        return bool(getattr(self.llm, "supports_images", False))

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def now(self) -> int:
        """The current step index T (the index the next step will get)."""
        return len(self.steps)

    def over_budget(self) -> bool:
        return self.total_tokens >= self.config.agent.max_tokens

    def repeats_exhausted(self) -> bool:
        """True once ``agent.max_repeats`` retrievals repeated earlier ones: searching again would loop."""
        limit = self.config.agent.max_repeats
        return limit > 0 and self.invalid_retrievals >= limit

    def raw_max_pixels(self) -> int:
        """Resolution of an image in a raw observation: an equal share of S_total among top_k results."""
        return int(self.config.budget.s_total // max(1, self.config.agent.top_k))

    def image(self, entry: BankEntry, max_pixels: int | None, label: str) -> ImageInput | None:
        key = entry.item_id
        if key not in self._images:
            self._images[key] = self.retriever.load_image(entry.item) if entry.item.media else None
        img = self._images[key]
        return None if img is None else ImageInput(img, max_pixels=max_pixels, label=label)

    def _generate(self, messages: list[Message]) -> tuple[str, int, int]:
        c = self.llm.generate(messages, max_tokens=self.config.agent.max_completion_tokens, temperature=0.0)
        pt = c.prompt_tokens or sum(self.llm.count_tokens(m.content) for m in messages)
        ct = c.completion_tokens or self.llm.count_tokens(c.text)
        return c.text, int(pt), int(ct)

    def policy(self, messages: list[Message], allowed: tuple[str, ...], kind: str) -> tuple[Action | None, StepRecord]:
        """One policy step: generate, parse; on malformed output one corrective retry; then give up gracefully.

        The record keeps the exact prompt of the last attempt (with the correction exchange when there was
        one), the last completion, and the tokens and time of both attempts.
        """
        t0 = time.perf_counter()
        text, pt, ct = self._generate(messages)
        action: Action | None = None
        error: str | None = None
        try:
            action = parse_action(text, allowed)
        except ActionError as exc:
            messages = [*messages, Message("assistant", text),
                        Message("user", prompts.CORRECTION.format(error=exc, example=example_for(allowed)))]
            text, pt2, ct2 = self._generate(messages)
            pt, ct = pt + pt2, ct + ct2
            try:
                action = parse_action(text, allowed)
            except ActionError as exc2:
                error = f"malformed output after one corrective retry: {exc2}"
        self.prompt_tokens += pt
        self.completion_tokens += ct
        record = StepRecord(
            index=len(self.steps), action=action.name if action else "invalid", node=None,
            messages=[message_record(m) for m in messages], completion=text, prompt_tokens=pt,
            completion_tokens=ct, seconds=time.perf_counter() - t0, error=error,
        )
        self.steps.append(record)
        return action, record

    def retrieve(self, query: str, parents: list[int], record: StepRecord) -> MemoryNode | None:
        """Run logic-aware search and spawn a node, unless the query repeats an earlier node."""
        dup, vec = self.graph.find_duplicate(query, self.embedder, self.config.agent.dedup_threshold)
        if dup is not None:
            record.repeat = True
            record.node = dup
            record.parents = list(self.graph.nodes[dup].parents)
            self.invalid_retrievals += 1
            return None
        result = self.retriever.search(query, self.config.agent.top_k)
        bank = bank_from_hits(result, self.config.agent.evidence_chars)
        node = self.graph.add_node(query, parents, step=record.index, bank=bank, query_vector=vec)
        record.node, record.parents = node.id, list(node.parents)
        record.retrieved = [{"id": e.item_id, "state": e.state.label, "similarity": round(e.similarity, 6)} for e in bank]
        for e in bank:
            if e.item.media:
                self.media[e.item_id] = e.item.media
        return node

    def memorize(self, node: MemoryNode, messages: list[Message]) -> Memorize | None:
        """A memorize step on ``node``: apply saliency mask u, scores p and keyframes to its bank."""
        action, record = self.policy(messages, ("memorize",), "memorize")
        record.node = node.id
        record.parents = list(node.parents)
        if not isinstance(action, Memorize):
            return None
        n = len(node.bank)
        keep = set(range(1, n + 1)) if action.keep is None else {k for k in action.keep if 1 <= k <= n}
        if action.keep is not None and not keep and action.scores:
            keep = {k for k in action.scores if 1 <= k <= n and action.scores[k] >= 3}
        for i, entry in enumerate(node.bank, start=1):
            entry.saliency = i in keep
            if i in action.scores:
                entry.score = action.scores[i]
            if entry.item.modality == "video":
                entry.keyframes = list(action.keyframes.get(i) or entry.item.locator.keyframes)
        return action


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
        """The ``vimrag ask --json`` object."""
        return {
            "answer": self.answer,
            "citations": [{"source": c["source"], "locator": dict(c["locator"])} for c in self.citations],
            "method": self.method,
            "steps": self.steps,
            "tokens": {"prompt": int(self.tokens["prompt"]), "completion": int(self.tokens["completion"])},
            "trajectory": str(self.trajectory) if self.trajectory else None,
        }


def _fallback_answer(text: str) -> str:
    """Best effort when even the forced answer is malformed: the first non-empty line, unwrapped."""
    for line in text.strip().splitlines():
        line = line.strip().strip("`{}[]\"' ")
        if line:
            return line[:200]
    return ""


class Agent:
    """VimRAG agent and its two baselines over a retriever (the polarized memory) and a policy model."""

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

    def ask(self, question: str, method: str | None = None, *, save: bool = True) -> AgentResult:
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        name = method or self.config.agent.method
        impl = make_method(name)
        ep = Episode(question.strip(), self.llm, self.retriever, self.config, self.embedder)
        t0 = time.perf_counter()
        answer, cite, forced = "", [], False
        for round_ in range(max(1, self.config.agent.max_steps)):
            forced = round_ == self.config.agent.max_steps - 1 or ep.over_budget() or ep.repeats_exhausted()
            allowed = ("answer",) if forced else ("retrieve", "answer")
            messages = impl.decide_messages(ep, forced)
            action, record = ep.policy(messages, allowed, "decide")
            impl.after_decision(ep, action, record)
            if isinstance(action, Answer):
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
                continue
            impl.on_retrieved(ep, node)
        citations, answer_node = citations_for(ep.graph, cite)
        if ep.steps and ep.steps[-1].action == "answer":
            ep.steps[-1].node = answer_node
        traj = Trajectory(
            question=ep.question, method=name, nodes=nodes_to_json(ep.graph), steps=ep.steps, answer=answer,
            answer_node=answer_node, citations=citations, allocation=[a.to_json() for a in ep.allocation],
            tokens={"prompt": ep.prompt_tokens, "completion": ep.completion_tokens}, steps_taken=len(ep.steps),
            invalid_retrievals=ep.invalid_retrievals, wall_s=time.perf_counter() - t0,
            meta={
                "model": getattr(self.llm, "name", type(self.llm).__name__), "vlm": ep.vlm,
                "agent": _asdict(self.config.agent), "budget": _asdict(self.config.budget), "media": ep.media,
                "forced": forced,
            },
        )
        path = traj.save(self.config.agent.trajectories_dir) if save else None
        return AgentResult(answer, citations, name, len(ep.steps),
                           {"prompt": ep.prompt_tokens, "completion": ep.completion_tokens}, path, traj)


def _asdict(obj: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(obj)
