"""One-call retrieval-augmented answering: search the question, answer once, cite.

The floor every agent method must beat (VimRAG's "standard RAG" baseline) and the fast mode: one logic-
aware search of the question itself (node n1, PolarMem's order and ``[Fact Check: …]`` evidence), then
one model call that must answer and cite the evidence it used. Same retrieval, model, k and evidence text
as the agents, so the comparison isolates what multi-step memory adds.
"""

from __future__ import annotations

from vimrag.agent.actions import Retrieve
from vimrag.agent.episode import Episode
from vimrag.agent.graph import MemoryNode
from vimrag.agent.methods.base import MethodBase, raw_results
from vimrag.models.base import ImageInput, Message

DECIDE = """You answer a question from search results of a memory.
Reply with ONE JSON object and nothing else:
{"action": "answer", "answer": "<a few words>", "cite": ["<result number>", ...]}
Cite the results [1.n] the answer comes from.{no_answer}
{answer_rule}

Example
Question: Who directed Jaws?
Results:
[1.1] [Fact Check: VERIFIED] text jaws.txt: Jaws is a 1975 film directed by Steven Spielberg.
[1.2] [Fact Check: UNCERTAIN] text sharks.txt: Great white sharks live in all major oceans.
Reply: {"action": "answer", "answer": "Steven Spielberg", "cite": ["1.1"]}{source_example}"""

SOURCE_EXAMPLE = """

Example
Question: Which photo shows a dog?
Results:
[1.1] [Fact Check: VERIFIED] image park.jpg: has dog, frisbee; not person
Reply: {"action": "answer", "answer": "park.jpg", "cite": ["1.1"]}"""


class RagMethod(MethodBase):
    name = "rag"
    decide_template = DECIDE
    source_example = SOURCE_EXAMPLE
    search_question_first = True
    max_decisions = 1

    def __init__(self) -> None:
        self.results = "No results."
        self.images: list[ImageInput] = []

    def system_prompt(self, question: str, abstain: bool = False) -> str:
        """The template's prompt; without ``agent.abstain`` the model may say in its own words that the
        results lack the answer (with it, the answer rule names the one phrase)."""
        no_answer = "" if abstain else " If the results do not contain the answer, say so in a few words."
        return super().system_prompt(question, abstain).replace("{no_answer}", no_answer)

    def decide_messages(self, ep: Episode, forced: bool) -> list[Message]:
        user = f"Question: {ep.question}\nResults:\n{self.results}\nReply:"
        return [Message("system", self.system_prompt(ep.question, ep.config.agent.abstain)),
                Message("user", user, self.images)]

    def on_retrieved(self, ep: Episode, node: MemoryNode) -> None:
        self.results, self.images = raw_results(ep, node, label_node=True)

    def on_repeat(self, ep: Episode, action: Retrieve, duplicate_of: int) -> None:
        return None  # one decision, and it must answer: the loop never retrieves again
