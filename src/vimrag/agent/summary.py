"""Iterative summary baseline (Mem1-like, VimRAG §2): a single memory m_t rewritten after each retrieval.

The policy decides from (question, m_t) only — no graph and no list of past searches, which is the
"Markovian blindness" the paper measures as repeated retrievals. The rewrite of m_t is a ``memorize``
step with the same schema as VimRAG's, so saliency and scores are recorded the same way.
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


class SummaryMethod:
    name = "summary"

    def __init__(self) -> None:
        self.memory = ""  # m_t

    def decide_messages(self, ep: Episode, forced: bool) -> list[Message]:
        parts = [f"Question: {ep.question}", f"Notes: {self.memory or '(empty)'}"]
        if ep.note:
            parts.append(ep.note)
            ep.note = None
        parts.append(prompts.force_answer(ep.question) if forced else "Reply:")
        return [Message("system", prompts.decide_prompt("summary", ep.question)), Message("user", "\n".join(parts))]

    def after_decision(self, ep: Episode, action: Action | None, record: StepRecord) -> None:
        return None

    def parents(self, ep: Episode, action: Retrieve) -> list[int]:
        return [len(ep.graph) - 1]

    def on_retrieved(self, ep: Episode, node: MemoryNode) -> None:
        if not node.bank or ep.over_budget():
            return
        results, images = raw_results(ep, node, label_node=True)
        user = (f"Question: {ep.question}\nNotes: {self.memory or '(empty)'}\n"
                f'Results of step {node.id} (search "{node.query}"):\n{results}\nReply:')
        act = ep.memorize(node, [Message("system", prompts.MEMORIZE_SUMMARY), Message("user", user, images)])
        if act is not None and act.summary:
            self.memory = act.summary
            node.summary = act.summary

    def on_repeat(self, ep: Episode, action: Retrieve, duplicate_of: int) -> None:
        ep.note = prompts.REPEAT_NOTE.format(query=action.query)
