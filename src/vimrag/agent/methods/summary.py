"""Iterative summary baseline (Mem1-like, VimRAG §2): a single memory m_t rewritten after each retrieval.

The policy decides from (question, m_t) only — no graph and no list of past searches, which is the
"Markovian blindness" the paper measures as repeated retrievals. The rewrite of m_t is a ``memorize``
step with the same schema as VimRAG's, so saliency and scores are recorded the same way.
"""

from __future__ import annotations

from vimrag.agent import prompts
from vimrag.agent.actions import Retrieve
from vimrag.agent.episode import Episode
from vimrag.agent.graph import MemoryNode
from vimrag.agent.methods.base import MethodBase, decide_with_notes, raw_results
from vimrag.models.base import Message

DECIDE = """You answer a question by searching a memory, one step at a time.
You see your notes so far (a running summary of everything you found).
Reply with ONE JSON object and nothing else:
{"action": "retrieve", "query": "<short search for ONE missing fact>"}
{"action": "answer", "answer": "<a few words>", "cite": ["<step.result>", ...]}
Answer as soon as the notes hold the answer.
{answer_rule}

Example
Question: In which country was the director of Jaws born?
Notes: Jaws (1975) was directed by Steven Spielberg [1.1].
Reply: {"action": "retrieve", "query": "Steven Spielberg birthplace"}{source_example}"""

SOURCE_EXAMPLE = """

Example
Question: Which photo shows a dog?
Notes: park.jpg is verified to show a dog [1.1].
Reply: {"action": "answer", "answer": "park.jpg", "cite": ["1.1"]}"""

MEMORIZE_SUMMARY = """You keep running notes while searching for the answer to a question.
Rewrite the notes so they include the useful new facts from the results (keep old useful facts, cite as [step.result]).
Reply with ONE JSON object and nothing else:
{"action": "memorize", "summary": "<the updated notes, at most 4 sentences>", "keep": [<numbers of useful results>], "scores": {"<number>": <usefulness 1-5>}}

Example
Question: In which country was the director of Jaws born?
Notes: (empty)
Results of step 1 (search "director of Jaws"):
[1] [Fact Check: VERIFIED] text jaws.txt: Jaws is a 1975 film directed by Steven Spielberg.
Reply: {"action": "memorize", "summary": "Jaws (1975) was directed by Steven Spielberg [1.1].", "keep": [1], "scores": {"1": 5}}"""


class SummaryMethod(MethodBase):
    name = "summary"
    decide_template = DECIDE
    source_example = SOURCE_EXAMPLE

    def __init__(self) -> None:
        self.memory = ""  # m_t

    def decide_messages(self, ep: Episode, forced: bool) -> list[Message]:
        return decide_with_notes(self, ep, forced, [f"Question: {ep.question}", f"Notes: {self.memory or '(empty)'}"])

    def on_retrieved(self, ep: Episode, node: MemoryNode) -> None:
        if not node.bank or ep.over_budget():
            return
        results, images = raw_results(ep, node, label_node=True)
        user = (f"Question: {ep.question}\nNotes: {self.memory or '(empty)'}\n"
                f'Results of step {node.id} (search "{node.query}"):\n{results}\nReply:')
        act = ep.memorize(node, [Message("system", MEMORIZE_SUMMARY), Message("user", user, images)])
        if act is not None and act.summary:
            self.memory = act.summary
            node.summary = act.summary

    def on_repeat(self, ep: Episode, action: Retrieve, duplicate_of: int) -> None:
        ep.note = prompts.REPEAT_NOTE.format(query=action.query)
