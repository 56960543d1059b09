"""Prompts of the three methods. Short, explicit, one JSON object per reply, one worked example each.

They are written for small local models (Qwen2.5-Coder 1.5B / 0.5B): JSON rather than free-form
tool syntax, numbered results to point at, and the rules stated once. The VimRAG decision prompt shows
the graph (sub-queries, summaries, budgeted evidence) instead of the raw history, which is where its
token saving over ReAct comes from (VimRAG §2 pilot study, §3.2).
"""

from __future__ import annotations

DECIDE_VIMRAG = """You answer a question by searching a memory, one step at a time.
You see a memory graph: node 0 is the question; each other node is a search you made, with a summary and kept evidence [node.item].
Reply with ONE JSON object and nothing else:
{"action": "retrieve", "query": "<short search for ONE missing fact>", "parents": [<ids of the nodes this search builds on>]}
{"action": "answer", "answer": "<a few words>", "cite": ["<node.item>", ...]}
Never repeat a search that is already a node. Answer as soon as the graph holds the answer.
If the question asks which photo, page, document or video, the answer names it (file name, with page or time).

Example
Question: In which country was the director of Jaws born?
Graph:
n0: question
n1 <- n0 search "director of Jaws": Jaws (1975) was directed by Steven Spielberg.
  [1.1] [Fact Check: VERIFIED] text jaws.txt: Jaws is a 1975 film directed by Steven Spielberg.
Reply: {"action": "retrieve", "query": "Steven Spielberg birthplace", "parents": [1]}
(next step, after n2 says Spielberg was born in Cincinnati, Ohio)
Reply: {"action": "answer", "answer": "United States", "cite": ["2.1"]}

Example
Question: Which photo shows a dog?
Graph:
n0: question
n1 <- n0 search "photo with a dog": park.jpg shows a dog on grass.
  [1.1] [Fact Check: VERIFIED] image park.jpg: has dog, frisbee; not person
Reply: {"action": "answer", "answer": "park.jpg", "cite": ["1.1"]}"""

DECIDE_REACT = """You answer a question by searching a memory, one step at a time.
Each reply is ONE JSON object with a short thought and one action, nothing else:
{"thought": "<what is missing>", "action": "retrieve", "query": "<short search for ONE missing fact>"}
{"thought": "<why this is the answer>", "action": "answer", "answer": "<a few words>", "cite": ["<step.result>", ...]}
After each search you get an Observation with numbered results [step.result]. Answer as soon as you can.
If the question asks which photo, page, document or video, the answer names it (file name, with page or time).

Example
Question: In which country was the director of Jaws born?
Reply: {"thought": "I need the director of Jaws.", "action": "retrieve", "query": "director of Jaws"}
Observation: [1.1] [Fact Check: VERIFIED] text jaws.txt: Jaws is a 1975 film directed by Steven Spielberg.
Reply: {"thought": "Now where Spielberg was born.", "action": "retrieve", "query": "Steven Spielberg birthplace"}
Observation: [2.1] [Fact Check: VERIFIED] text spielberg.txt: Spielberg was born in Cincinnati, Ohio.
Reply: {"thought": "Cincinnati is in the United States.", "action": "answer", "answer": "United States", "cite": ["2.1"]}

Example
Question: Which photo shows a dog?
Observation: [1.1] [Fact Check: VERIFIED] image park.jpg: has dog, frisbee; not person
Reply: {"thought": "park.jpg is verified to show a dog.", "action": "answer", "answer": "park.jpg", "cite": ["1.1"]}"""

DECIDE_SUMMARY = """You answer a question by searching a memory, one step at a time.
You see your notes so far (a running summary of everything you found).
Reply with ONE JSON object and nothing else:
{"action": "retrieve", "query": "<short search for ONE missing fact>"}
{"action": "answer", "answer": "<a few words>", "cite": ["<step.result>", ...]}
Answer as soon as the notes hold the answer.
If the question asks which photo, page, document or video, the answer names it (file name, with page or time).

Example
Question: In which country was the director of Jaws born?
Notes: Jaws (1975) was directed by Steven Spielberg [1.1].
Reply: {"action": "retrieve", "query": "Steven Spielberg birthplace"}

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
    '{"action": "answer", "answer": "<a few words>", "cite": ["<node.item>"]}. '
    "If the question asks which photo, page, document or video, name it (file name, with page or time)."
)

CORRECTION = "Your reply was not valid: {error}\nReply again with ONE JSON object only, for example: {example}"

REPEAT_NOTE = "Note: your last search repeated an earlier one (\"{query}\"); nothing new was found. Search for something else or answer."

OBSERVATION_EMPTY = "No results."
