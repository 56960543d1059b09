"""What an agent method is, and the helpers the methods share.

A method is a memory strategy plugged into the shared loop (``vimrag.agent.loop``): same retrieval, same
model, same tools; only what the policy sees between steps differs. Adding a method means adding one
module to this folder and one line to the registry in ``__init__``.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from vimrag.agent import prompts
from vimrag.agent.actions import Action, Retrieve
from vimrag.agent.context import entry_label
from vimrag.agent.episode import Episode
from vimrag.agent.graph import MemoryNode
from vimrag.agent.trajectory import StepRecord
from vimrag.models.base import ImageInput, Message
from vimrag.polar.evidence import evidence_text


class AgentMethod(Protocol):
    """The hooks the loop calls, in order: decide → (retrieve → on_retrieved | on_repeat) … → answer.

    ``search_question_first``: the loop retrieves the question itself as node n1 before the first
    decision (no policy call). ``max_decisions``: at most this many policy decisions (0 = the config's
    ``agent.max_steps``); the last one must answer.
    """

    name: ClassVar[str]
    search_question_first: ClassVar[bool]
    max_decisions: ClassVar[int]

    def system_prompt(self, question: str, abstain: bool = False) -> str: ...

    def decide_messages(self, ep: Episode, forced: bool) -> list[Message]: ...

    def after_decision(self, ep: Episode, action: Action | None, record: StepRecord) -> None: ...

    def parents(self, ep: Episode, action: Retrieve) -> list[int]: ...

    def on_retrieved(self, ep: Episode, node: MemoryNode) -> None: ...

    def on_repeat(self, ep: Episode, action: Retrieve, duplicate_of: int) -> None: ...


class MethodBase:
    """Defaults a method may keep: a linear chain of nodes, nothing to do after a decision, and the
    decision prompt built from the method's own template and worked file-name example."""

    name: ClassVar[str]
    decide_template: ClassVar[str]
    source_example: ClassVar[str]
    search_question_first: ClassVar[bool] = False
    max_decisions: ClassVar[int] = 0

    def system_prompt(self, question: str, abstain: bool = False) -> str:
        return prompts.decide_prompt(self.decide_template, self.source_example, question, abstain)

    def after_decision(self, ep: Episode, action: Action | None, record: StepRecord) -> None:
        return None

    def parents(self, ep: Episode, action: Retrieve) -> list[int]:
        return [len(ep.graph) - 1]  # a linear chain: each step follows the previous one


def decide_with_notes(method: MethodBase, ep: Episode, forced: bool, parts: list[str],
                      images: list[ImageInput] | None = None) -> list[Message]:
    """System prompt + one user message: ``parts``, the loop's pending note, then "Reply:" or the forced
    answer instruction."""
    if ep.note:
        parts = [*parts, ep.note]
        ep.note = None
    abstain = ep.config.agent.abstain
    parts = [*parts, prompts.force_answer(ep.question, abstain) if forced else "Reply:"]
    return [Message("system", method.system_prompt(ep.question, abstain)), Message("user", "\n".join(parts), images or [])]


def raw_results(ep: Episode, node: MemoryNode, label_node: bool = False,
                max_chars: int = 0) -> tuple[str, list[ImageInput]]:
    """The node's retrieved items as numbered evidence lines (+ images for a VLM), each shown once.

    ``max_chars`` below ``agent.evidence_chars`` (and > 0) shows each item's text state focused on the
    question and the node's search within that many characters (:func:`vimrag.polar.evidence.focus`); a
    larger one never shows more than the raw observation."""
    lines, images = [], []
    focus_on = f"{ep.question} {node.query}"
    narrower = 0 < max_chars < ep.config.agent.evidence_chars
    for i, e in enumerate(node.bank, start=1):
        tag = entry_label(node.id, i) if label_node else str(i)
        text = evidence_text(e.item, e.state, max_chars, focus_on) if narrower else e.text
        lines.append(f"[{tag}] {text}")
        if ep.vlm:
            images += ep.images(e, ep.raw_max_pixels(), entry_label(node.id, i))
    return ("\n".join(lines) if lines else prompts.OBSERVATION_EMPTY), images
