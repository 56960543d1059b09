"""ReAct baseline (VimRAG §2): a linear history H_t = [q, τ1, a1, o1, …] that grows with every step.

Same retrieval, same model, same evidence text as VimRAG; the only difference is the memory: every raw
observation stays in the context for all later steps, so prompt tokens grow with the trajectory.
"""

from __future__ import annotations

from vimrag.agent import prompts
from vimrag.agent.actions import Action, Retrieve
from vimrag.agent.episode import Episode
from vimrag.agent.graph import MemoryNode
from vimrag.agent.methods.base import MethodBase, raw_results
from vimrag.agent.trajectory import StepRecord
from vimrag.models.base import Message

DECIDE = """You answer a question by searching a memory, one step at a time.
Each reply is ONE JSON object with a short thought and one action, nothing else:
{"thought": "<what is missing>", "action": "retrieve", "query": "<short search for ONE missing fact>"}
{"thought": "<why this is the answer>", "action": "answer", "answer": "<a few words>", "cite": ["<step.result>", ...]}
After each search you get an Observation with numbered results [step.result]. Answer as soon as you can.
{answer_rule}

Example
Question: In which country was the director of Jaws born?
Reply: {"thought": "I need the director of Jaws.", "action": "retrieve", "query": "director of Jaws"}
Observation: [1.1] [Fact Check: VERIFIED] text jaws.txt: Jaws is a 1975 film directed by Steven Spielberg.
Reply: {"thought": "Now where Spielberg was born.", "action": "retrieve", "query": "Steven Spielberg birthplace"}
Observation: [2.1] [Fact Check: VERIFIED] text spielberg.txt: Spielberg was born in Cincinnati, Ohio.
Reply: {"thought": "Cincinnati is in the United States.", "action": "answer", "answer": "United States", "cite": ["2.1"]}{source_example}"""

SOURCE_EXAMPLE = """

Example
Question: Which photo shows a dog?
Observation: [1.1] [Fact Check: VERIFIED] image park.jpg: has dog, frisbee; not person
Reply: {"thought": "park.jpg is verified to show a dog.", "action": "answer", "answer": "park.jpg", "cite": ["1.1"]}"""


class ReActMethod(MethodBase):
    name = "react"
    decide_template = DECIDE
    source_example = SOURCE_EXAMPLE

    def __init__(self) -> None:
        self.history: list[Message] = []

    def decide_messages(self, ep: Episode, forced: bool) -> list[Message]:
        if not self.history:
            self.history.append(Message("user", f"Question: {ep.question}"))
        msgs = [Message("system", self.system_prompt(ep.question, ep.config.agent.abstain)), *self.history]
        last = msgs[-1]
        suffix = prompts.force_answer(ep.question, ep.config.agent.abstain) if forced else "Reply:"
        msgs[-1] = Message(last.role, f"{last.content}\n{suffix}", list(last.images))
        return msgs

    def after_decision(self, ep: Episode, action: Action | None, record: StepRecord) -> None:
        self.history.append(Message("assistant", record.completion))
        if action is None:
            self.history.append(Message("user", f"Observation: invalid reply ({record.error})."))

    def on_retrieved(self, ep: Episode, node: MemoryNode) -> None:
        results, images = raw_results(ep, node, label_node=True)
        # the question searched first (agent.question_first) comes before any decision: one opening message
        opening = "" if self.history else f"Question: {ep.question}\n"
        self.history.append(Message("user", f"{opening}Observation:\n{results}", images))

    def on_repeat(self, ep: Episode, action: Retrieve, duplicate_of: int) -> None:
        self.history.append(Message("user", "Observation: " + prompts.REPEAT_NOTE.format(query=action.query)))
