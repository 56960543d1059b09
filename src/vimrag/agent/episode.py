"""The state of one question while an agent method works on it: graph, step records, tokens, policy calls.

Every method (``vimrag.agent.methods``) reads and updates an :class:`Episode`; the loop
(``vimrag.agent.loop``) drives it. It knows nothing of any particular method.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from PIL import Image

from vimrag.agent import prompts
from vimrag.agent.actions import Action, ActionError, Memorize, example_for, parse_action
from vimrag.agent.budget import Allocation
from vimrag.agent.context import Retriever, bank_from_hits, second_hop
from vimrag.agent.graph import BankEntry, MemoryGraph, MemoryNode
from vimrag.agent.trajectory import StepRecord
from vimrag.config import Config
from vimrag.models.base import ImageInput, LanguageModel, Message, TextEmbedder
from vimrag.store.media import shown_media
from vimrag.types import Modality


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
    cached_tokens: int = 0  # of prompt_tokens, re-used from the model's KV cache (saves time, not tokens)
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

    def tokens(self) -> dict[str, int]:
        """``tokens`` of a result: every prompt token the model was conditioned on (the paper's trajectory
        length), the generated ones, and how many of the prompt's came from the KV cache."""
        return {"prompt": self.prompt_tokens, "completion": self.completion_tokens, "cached": self.cached_tokens}

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

    def images(self, entry: BankEntry, max_pixels: int | None, label: str) -> list[ImageInput]:
        """What a VLM is shown for a bank entry: for a video whose memorize kept keyframes, those frames
        (VimRAG §3.1, temporal grounding), sharing the entry's allocated pixels and labelled with their
        time (``1.2@13.9s``); otherwise its one picture (:meth:`image`)."""
        load = getattr(self.retriever, "load_keyframes", None)
        if entry.item.modality == Modality.VIDEO and entry.keyframes and load is not None:
            frames = load(entry.item, entry.keyframes)
            if frames:
                per = None
                if max_pixels is not None:
                    cell = self.config.budget.patch_px ** 2
                    per = max(cell, max_pixels // len(frames) // cell * cell)
                return [ImageInput(img, max_pixels=per, label=f"{label}@{t:.1f}s") for t, img in frames]
        img = self.image(entry, max_pixels, label)
        return [] if img is None else [img]

    def generate(self, messages: list[Message], record: StepRecord, *, temperature: float = 0.0,
                 seed: int | None = None, max_tokens: int | None = None,
                 logit_bias: dict[str, float] | None = None) -> str:
        """One model call; its tokens (and cache re-use, prefill/decode phases) go to ``record``."""
        c = self.llm.generate(messages, max_tokens=max_tokens or self.config.agent.max_completion_tokens,
                              temperature=temperature, seed=seed, logit_bias=logit_bias)
        pt = int(c.prompt_tokens or sum(self.llm.count_tokens(m.content) for m in messages))
        ct = int(c.completion_tokens or self.llm.count_tokens(c.text))
        record.prompt_tokens += pt
        record.completion_tokens += ct
        record.cached_tokens += c.cached_tokens
        self.prompt_tokens += pt
        self.completion_tokens += ct
        self.cached_tokens += c.cached_tokens
        for k, v in c.phases().items():
            record.phases[k] = round(record.phases.get(k, 0) + v, 4)
        return c.text

    def policy(self, messages: list[Message], allowed: tuple[str, ...]) -> tuple[Action | None, StepRecord]:
        """One policy step: generate, parse; on malformed output one corrective retry; then give up gracefully.

        The record keeps the exact prompt of the last attempt (with the correction exchange when there was
        one), the last completion, and the tokens and time of both attempts.

        A decision that may retrieve or answer is decoded with ``agent.answer_bias`` added to the logit of
        the token "answer" (``LanguageModel.generate``'s ``logit_bias``): a prior toward answering, as the
        design notes say ("Answer bias"); not in the paper, whose trained policy needs none.
        """
        t0 = time.perf_counter()
        record = StepRecord(index=len(self.steps), action="invalid")
        bias = self.config.agent.answer_bias
        choice = {"answer": bias} if bias and {"answer", "retrieve"} <= set(allowed) else None
        text = self.generate(messages, record, logit_bias=choice)
        action: Action | None = None
        try:
            action = parse_action(text, allowed)
        except ActionError as exc:
            messages = [*messages, Message("assistant", text),
                        Message("user", prompts.CORRECTION.format(error=exc, example=example_for(allowed)))]
            text = self.generate(messages, record, logit_bias=choice)
            try:
                action = parse_action(text, allowed)
            except ActionError as exc2:
                record.error = f"malformed output after one corrective retry: {exc2}"
        record.action = action.name if action else "invalid"
        record.messages = [message_record(m) for m in messages]
        record.completion = text
        record.seconds = time.perf_counter() - t0
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
        agent = self.config.agent
        result = second_hop(self.retriever, query, agent.top_k, agent.second_hop, agent.second_hop_chars)
        bank = bank_from_hits(result, agent.evidence_chars, self.question)
        node = self.graph.add_node(query, parents, step=record.index, bank=bank, query_vector=vec)
        record.node, record.parents = node.id, list(node.parents)
        record.retrieved = [{"id": e.item_id, "state": e.state.label, "similarity": round(e.similarity, 6)} for e in bank]
        for e in bank:
            shown = shown_media(e.item)  # its thumbnail, or the page a table lies on (drawn with its box)
            if shown:
                self.media[e.item_id] = shown
        return node

    def memorize(self, node: MemoryNode, messages: list[Message]) -> Memorize | None:
        """A memorize step on ``node``: apply saliency mask u, scores p and keyframes to its bank."""
        action, record = self.policy(messages, ("memorize",))
        record.node = node.id
        record.parents = list(node.parents)
        if not isinstance(action, Memorize):
            return None
        n = len(node.bank)
        keep = set(range(1, n + 1)) if action.keep is None else {k for k in action.keep if 1 <= k <= n}
        if action.keep is not None and not keep and action.scores:
            cut = self.config.agent.relevant_score
            keep = {k for k in action.scores if 1 <= k <= n and action.scores[k] >= cut}
        for i, entry in enumerate(node.bank, start=1):
            entry.saliency = i in keep
            if i in action.scores:
                entry.score = action.scores[i]
            if entry.item.modality == "video":
                entry.keyframes = list(action.keyframes.get(i) or entry.item.locator.keyframes)
        return action
