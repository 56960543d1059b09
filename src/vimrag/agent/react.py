"""ReAct baseline (VimRAG §2): a linear history H_t = [q, τ1, a1, o1, …] that grows with every step.

Same retrieval, same model, same evidence text as VimRAG; the only difference is the memory: every raw
observation stays in the context for all later steps, so prompt tokens grow with the trajectory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vimrag.agent import prompts
from vimrag.agent.actions import Action, Retrieve
from vimrag.agent.graph import MemoryNode
from vimrag.agent.trajectory import StepRecord
from vimrag.agent.vimrag import raw_results
from vimrag.models.base import Message

if TYPE_CHECKING:
    from vimrag.agent.runner import Episode


class ReActMethod:
    name = "react"

    def __init__(self) -> None:
        self.history: list[Message] = []

    def decide_messages(self, ep: Episode, forced: bool) -> list[Message]:
        if not self.history:
            self.history.append(Message("user", f"Question: {ep.question}"))
        msgs = [Message("system", prompts.decide_prompt("react", ep.question)), *self.history]
        last = msgs[-1]
        suffix = prompts.force_answer(ep.question) if forced else "Reply:"
        msgs[-1] = Message(last.role, f"{last.content}\n{suffix}", list(last.images))
        return msgs

    def after_decision(self, ep: Episode, action: Action | None, record: StepRecord) -> None:
        self.history.append(Message("assistant", record.completion))
        if action is None:
            self.history.append(Message("user", f"Observation: invalid reply ({record.error})."))

    def parents(self, ep: Episode, action: Retrieve) -> list[int]:
        return [len(ep.graph) - 1]  # a linear chain: each step follows the previous one

    def on_retrieved(self, ep: Episode, node: MemoryNode) -> None:
        results, images = raw_results(ep, node, label_node=True)
        self.history.append(Message("user", f"Observation:\n{results}", images))

    def on_repeat(self, ep: Episode, action: Retrieve, duplicate_of: int) -> None:
        self.history.append(Message("user", "Observation: " + prompts.REPEAT_NOTE.format(query=action.query)))
