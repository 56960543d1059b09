"""Prompts of the three methods. Short, explicit, one JSON object per reply, one worked example each.

They are written for small local models (Qwen2.5-Coder 1.5B / 0.5B): JSON rather than free-form
tool syntax, numbered results to point at, and the rules stated once. The VimRAG decision prompt shows
the graph (sub-queries, summaries, budgeted evidence) instead of the raw history, which is where its
token saving over ReAct comes from (VimRAG §2 pilot study, §3.2).
"""

from __future__ import annotations

import re

_DECIDE_VIMRAG = """You answer a question by searching a memory, one step at a time.
You see a memory graph: node 0 is the question; each other node is a search you made, with a summary and kept evidence [node.item].
Reply with ONE JSON object and nothing else:
{"action": "retrieve", "query": "<short search for ONE missing fact>", "parents": [<ids of the nodes this search builds on>]}
{"action": "answer", "answer": "<a few words>", "cite": ["<node.item>", ...]}
Never repeat a search that is already a node. Answer as soon as the graph holds the answer.
{answer_rule}

Example
Question: In which country was the director of Jaws born?
Graph:
n0: question
n1 <- n0 search "director of Jaws": Jaws (1975) was directed by Steven Spielberg.
  [1.1] [Fact Check: VERIFIED] text jaws.txt: Jaws is a 1975 film directed by Steven Spielberg.
Reply: {"action": "retrieve", "query": "Steven Spielberg birthplace", "parents": [1]}
(next step, after n2 says Spielberg was born in Cincinnati, Ohio)
Reply: {"action": "answer", "answer": "United States", "cite": ["2.1"]}{source_example}"""

_SOURCE_EXAMPLE_VIMRAG = """

Example
Question: Which photo shows a dog?
Graph:
n0: question
n1 <- n0 search "photo with a dog": park.jpg shows a dog on grass.
  [1.1] [Fact Check: VERIFIED] image park.jpg: has dog, frisbee; not person
Reply: {"action": "answer", "answer": "park.jpg", "cite": ["1.1"]}"""

_DECIDE_REACT = """You answer a question by searching a memory, one step at a time.
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

_SOURCE_EXAMPLE_REACT = """

Example
Question: Which photo shows a dog?
Observation: [1.1] [Fact Check: VERIFIED] image park.jpg: has dog, frisbee; not person
Reply: {"thought": "park.jpg is verified to show a dog.", "action": "answer", "answer": "park.jpg", "cite": ["1.1"]}"""

_DECIDE_SUMMARY = """You answer a question by searching a memory, one step at a time.
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

_SOURCE_EXAMPLE_SUMMARY = """

Example
Question: Which photo shows a dog?
Notes: park.jpg is verified to show a dog [1.1].
Reply: {"action": "answer", "answer": "park.jpg", "cite": ["1.1"]}"""

MEMORIZE_NODE = """You read search results and keep only what helps answer the question.
Reply with ONE JSON object and nothing else:
{"action": "memorize", "summary": "<1-2 sentences with the facts that matter, names and numbers>", "keep": [<numbers of useful results>], "scores": {"<number>": <usefulness 1-5>}}
For a video result you may add "keyframes": {"<number>": [<seconds>]}.

Example
Question: In which country was the director of Jaws born?
Search: director of Jaws
[1] [Fact Check: VERIFIED] text jaws.txt: Jaws is a 1975 film directed by Steven Spielberg.
[2] [Fact Check: UNCERTAIN] text sharks.txt: Great white sharks live in all major oceans.
Reply: {"action": "memorize", "summary": "Jaws was directed by Steven Spielberg.", "keep": [1], "scores": {"1": 5}}"""

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
_DECIDE = {
    "vimrag": (_DECIDE_VIMRAG, _SOURCE_EXAMPLE_VIMRAG),
    "react": (_DECIDE_REACT, _SOURCE_EXAMPLE_REACT),
    "summary": (_DECIDE_SUMMARY, _SOURCE_EXAMPLE_SUMMARY),
}


def asks_for_source(question: str) -> bool:
    """Whether the question wants a file (photo, page, document, video) as (part of) its answer."""
    return bool(_SOURCE_QUESTION.search(question))


def asks_for_time(question: str) -> bool:
    """Whether the question asks when something happens (a time or span in a video)."""
    return bool(_TIME_QUESTION.search(question))


def answer_rule(question: str) -> str:
    """The rule(s) for the final answer: file name, time, both, or the fact itself."""
    rules = [r for r, on in ((SOURCE_RULE, asks_for_source(question)), (TIME_RULE, asks_for_time(question))) if on]
    return " ".join(rules) or FACT_RULE


def decide_prompt(method: str, question: str) -> str:
    """The decision system prompt of ``method`` ("vimrag", "react", "summary") for this question."""
    template, example = _DECIDE[method]
    return template.replace("{answer_rule}", answer_rule(question)).replace(
        "{source_example}", example if asks_for_source(question) else ""
    )


def force_answer(question: str) -> str:
    """The forced-answer instruction, with the answer rule that fits the question."""
    return f"{FORCE_ANSWER} {answer_rule(question)}"


CORRECTION = (
    "Your reply was not valid: {error}\nReply again with ONE JSON object only, for example: {example}"
)

REPEAT_NOTE = 'Note: your last search repeated an earlier one ("{query}"); nothing new was found. Search for something else or answer.'

OBSERVATION_EMPTY = "No results."
