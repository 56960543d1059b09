"""Prompt parts every method shares: the answer rules, the forced answer, the correction, the notes.

Each method's own decision and memorize prompts live beside it in ``vimrag.agent.methods``.

They are written for small local models (Qwen2.5-Coder 1.5B / 0.5B): JSON rather than free-form
tool syntax, numbered results to point at, and the rules stated once. The VimRAG decision prompt shows
the graph (sub-queries, summaries, budgeted evidence) instead of the raw history, which is where its
token saving over ReAct comes from (VimRAG §2 pilot study, §3.2).
"""

from __future__ import annotations

import re

FORCE_ANSWER = (
    "You must answer now with what you have. Reply with ONE JSON object: "
    '{"action": "answer", "answer": "<a few words>", "cite": ["<node.item>"]}.'
)

# Which rule the answer follows depends on the question. With one rule for all ("if the question asks
# which photo … name the file") and the photo example always shown, the 1.5B answered 7 of 30 HotpotQA
# questions with a file name ("The_Hukilau_Song-f9c5ac.txt" for "Jack Owens"); so the file-name rule and
# its example are shown only for questions that ask for a source, questions about a moment in a video are
# told to give the time (told to name the file, the 1.5B answered "video_shot_list.md" to "at what time
# does the rabbit stretch?"), and all others are told not to answer with a file.
SOURCE_RULE = "The question asks which photo, page, document or video: the answer names it (file name, with page or time)."
TIME_RULE = 'The question asks when something happens: the answer is the time or time span (e.g. "0:02-0:04"), with the video file if it is in a video.'
FACT_RULE = "Answer with the fact itself (a name, number, date or yes/no), never with a file name."

_SOURCE_QUESTION = re.compile(
    r"\b(?:which|what)\s+(?:\w+\s+){0,2}?"
    r"(?:photo|image|picture|pic|page|slide|document|doc|file|pdf|video|clip|frame|recording|scene)s?\b"
    r"(?!\s+games?\b)"  # "which video game" asks for a game, not a file
    r"|\bat what page\b|\bon which page\b|\bin which (?:photo|image|picture|document|file|video|clip)\b",
    re.IGNORECASE,
)
_TIME_QUESTION = re.compile(
    r"\b(?:at )?what (?:time|timestamp|minute|second)\b|\bwhen (?:in|during) (?:the|a|this) "
    r"(?:video|clip|movie|film|recording)\b|\bhow (?:far|many seconds|many minutes) into\b",
    re.IGNORECASE,
)
# "Who leads Project Falcon, and what is its budget?", "which quarter had the highest revenue, and how much?":
# a second question joined by "and". Told only "<a few words>", the 1.5B answered the first part alone; the
# rule names both parts so that the answer carries each.
_SECOND_PART = re.compile(r",?\s+and\s+(?=(?:what|who|whom|whose|which|when|where|why|how)\b)", re.IGNORECASE)
PARTS_RULE = 'The question asks {n} things: {parts}. The answer gives each of them, separated by "; ".'

# Abstention (``agent.abstain``). A memory need not hold the answer: MMLongBench-Doc marks one question in
# five "Not answerable", and told only to answer, the 1.5B answered every such question with a made-up
# value (130 of 130 rag and vimrag predictions on mmlongbench-doc-short9 named a value). The rule names one fixed phrase, so
# a caller can tell an abstention from an answer; :func:`canonical_answer` maps the model's other wordings
# onto it.
NOT_ANSWERABLE = "Not answerable"
ABSTAIN_RULE = f'If the evidence does not hold the answer, the answer is "{NOT_ANSWERABLE}".'
_ABSTENTION = re.compile(
    r"(?:not answerable|unanswerable|cannot be (?:answered|determined)|no answer|unknown|not (?:found|known|"
    r"mentioned|stated|given|available)|(?:the )?(?:results?|evidence|graph|memory|documents?|context) (?:does|do)"
    r" not (?:contain|say|hold|mention|give|state|include)\b.*|no (?:information|result|evidence)\b.*)[.!]?",
    re.IGNORECASE,
)


def canonical_answer(answer: str) -> str:
    """``NOT_ANSWERABLE`` for an answer that says the evidence lacks it ("Unknown", "The results do not say
    …"), else the answer unchanged."""
    return NOT_ANSWERABLE if _ABSTENTION.fullmatch(answer.strip().strip('"')) else answer


def question_parts(question: str) -> list[str]:
    """The questions a question asks: one, or several joined by "…, and what/who/how …"."""
    parts = [p.strip(" ?,.") for p in _SECOND_PART.split(question.strip())]
    return [p for p in parts if p] or [question]


def asks_for_source(question: str) -> bool:
    """Whether the question wants a file (photo, page, document, video) as (part of) its answer."""
    return bool(_SOURCE_QUESTION.search(question))


def asks_for_time(question: str) -> bool:
    """Whether the question asks when something happens (a time or span in a video)."""
    return bool(_TIME_QUESTION.search(question))


def answer_rule(question: str, abstain: bool = False) -> str:
    """The rule(s) for the final answer: file name, time, both, or the fact itself; every part of a
    question that asks several things; and, with ``abstain``, the one phrase for "the evidence lacks it"."""
    rules = [r for r, on in ((SOURCE_RULE, asks_for_source(question)), (TIME_RULE, asks_for_time(question))) if on]
    rules = rules or [FACT_RULE]
    parts = question_parts(question)
    if len(parts) > 1:
        rules.append(PARTS_RULE.format(n=len(parts), parts=" and ".join(f'({i}) "{p}"' for i, p in enumerate(parts, 1))))
    if abstain:
        rules.append(ABSTAIN_RULE)
    return " ".join(rules)


def decide_prompt(template: str, source_example: str, question: str, abstain: bool = False) -> str:
    """A method's decision system prompt for this question: its template with the answer rule that fits
    the question, and its worked file-name example only for questions that ask for a source."""
    return template.replace("{answer_rule}", answer_rule(question, abstain)).replace(
        "{source_example}", source_example if asks_for_source(question) else ""
    )


def force_answer(question: str, abstain: bool = False) -> str:
    """The forced-answer instruction, with the answer rule that fits the question."""
    return f"{FORCE_ANSWER} {answer_rule(question, abstain)}"


CORRECTION = (
    "Your reply was not valid: {error}\nReply again with ONE JSON object only, for example: {example}"
)

REPEAT_NOTE = 'Note: your last search repeated an earlier one ("{query}"); nothing new was found. Search for something else or answer.'

OBSERVATION_EMPTY = "No results."
