"""Candidate answer selection (PolarMem, Appendix B): several answers, then the model picks one by index.

When ``agent.answer_candidates`` is N > 1 and the policy answers, N − 1 more answers are sampled from the
same prompt (``agent.candidate_temperature``, a seed per candidate so that they can differ), duplicates
dropped, and one more call shows the model the numbered candidates after the same evidence and asks for
the number of the best one — index only, as the paper's selection step; an unusable reply selects
candidate 0, the greedy answer. The selection turn is appended to the answer prompt, so a model with a KV
cache re-uses the whole evidence prefix (``tokens.cached``). Every call counts in the answer step's tokens.

Off by default (N = 1): on the demo questions three candidates answered the same 6 of 7 with 62 % more
tokens (``benchmarks/results/eval/demo-answer-options.md``); samples of a VLM server differ more.
"""

from __future__ import annotations

import json
import re

from vimrag.agent.actions import ActionError, Answer, parse_action
from vimrag.agent.episode import Episode
from vimrag.agent.trajectory import StepRecord
from vimrag.models.base import Message

SELECT = (
    "Candidate answers to the question \"{question}\":\n{candidates}\n\n"
    "Which candidate is best supported by the evidence above and answers every part of the question? "
    "Reply with the candidate's number only."
)
_INDEX = re.compile(r"\d+")


def select_answer(ep: Episode, messages: list[Message], first: Answer, record: StepRecord) -> Answer:
    """``first`` (the policy's greedy answer) or the candidate the model selects among sampled ones."""
    cfg = ep.config.agent
    candidates = [first]
    seen = {_key(first.answer)}
    for i in range(1, max(1, int(cfg.answer_candidates))):
        text = ep.generate(messages, record, temperature=float(cfg.candidate_temperature),
                           seed=int(ep.config.models.seed) + i)
        try:
            cand = parse_action(text, ("answer",))
        except ActionError:
            continue  # a sample that is not an answer (or not JSON) is no candidate
        assert isinstance(cand, Answer)
        if cand.answer.strip() and _key(cand.answer) not in seen:
            seen.add(_key(cand.answer))
            candidates.append(cand)
    record.candidates = [c.answer for c in candidates]
    if len(candidates) == 1:
        return first
    listing = "\n".join(f"{i}. {c.answer}" for i, c in enumerate(candidates))
    ask = [*messages, Message("assistant", json.dumps({"action": "answer", "answer": first.answer})),
           Message("user", SELECT.format(question=ep.question, candidates=listing))]
    reply = ep.generate(ask, record, max_tokens=4)
    record.selected = parse_index(reply, len(candidates))
    return candidates[record.selected]


def parse_index(text: str, n: int) -> int:
    """The first number in ``text`` if it names a candidate, else 0 (the paper's default)."""
    m = _INDEX.search(text or "")
    i = int(m.group()) if m else 0
    return i if 0 <= i < n else 0


def _key(answer: str) -> str:
    return " ".join(answer.lower().split()).strip(" .")
