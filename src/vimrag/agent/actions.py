"""The policy's actions (VimRAG §3.1): retrieve, memorize, answer — exactly one per step.

Parsing is deliberately forgiving, because the default local policy is a 1.5B model: the preferred form
is one JSON object (possibly inside a code fence, possibly followed by chatter), but the tag formats that
small search agents emit (``<search>q</search>``, ``<answer>a</answer>``) are accepted too. Anything
else raises :class:`ActionError` whose message is fed back to the model for one corrective retry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vimrag.errors import VimragError
from vimrag.models.jsonparse import json_objects

ACTIONS = ("retrieve", "memorize", "answer")


class ActionError(VimragError):
    """The policy's output holds no valid action; the message says what a valid one looks like."""


@dataclass
class Retrieve:
    query: str
    parents: list[Any] = field(default_factory=list)
    thought: str = ""
    name: str = "retrieve"


@dataclass
class Memorize:
    """Perception of a node: summary s_t, saliency mask u (``keep``), scores p ∈ [1,5], video keyframes.

    ``keep`` / ``scores`` / ``keyframes`` are keyed by the 1-based result number shown in the prompt.
    ``keep=None`` means the policy gave no mask (all kept).
    """

    summary: str
    keep: list[int] | None = None
    scores: dict[int, int] = field(default_factory=dict)
    keyframes: dict[int, list[float]] = field(default_factory=dict)
    node: int | None = None
    name: str = "memorize"


@dataclass
class Answer:
    answer: str
    cite: list[str] = field(default_factory=list)
    thought: str = ""
    name: str = "answer"


Action = Retrieve | Memorize | Answer

_ALIASES = {
    "retrieve": "retrieve", "search": "retrieve", "query": "retrieve", "lookup": "retrieve",
    "memorize": "memorize", "memorise": "memorize", "perceive": "memorize", "summarize": "memorize",
    "summarise": "memorize", "update": "memorize",
    "answer": "answer", "final": "answer", "final_answer": "answer", "finish": "answer",
}
_TAG = re.compile(r"<(search|query|retrieve|answer|summary|memorize)>(.*?)(?:</\1>|$)", re.S | re.I)


def _ints(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [int(value)]
    if isinstance(value, str):
        return [int(x) for x in re.findall(r"\d+", value)]
    out: list[int] = []
    if isinstance(value, (list, tuple)):
        for v in value:
            out.extend(_ints(v)[-1:])  # "1.2" → item 2 of the node
    return out


def _score_map(value: Any) -> dict[int, int]:
    out: dict[int, int] = {}
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):  # [5, 3, 1] = scores of results 1, 2, 3
        items = ((i, v) for i, v in enumerate(value, start=1))
    else:
        return out
    for k, v in items:
        ks, vs = _ints(k), _ints(v)
        if ks and vs:
            out[ks[-1]] = max(1, min(5, vs[0]))
    return out


def _keyframes(value: Any) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    if not isinstance(value, dict):
        return out
    for k, v in value.items():
        ks = _ints(k)
        vals = v if isinstance(v, list) else [v]
        ts: list[float] = []
        for x in vals:
            try:
                ts.append(float(x))
            except (TypeError, ValueError):
                continue
        if ks:
            out[ks[-1]] = ts
    return out


def _from_obj(obj: dict[str, Any]) -> Action | None:
    obj = {str(k).lower(): v for k, v in obj.items()}
    raw = str(obj.get("action") or obj.get("type") or obj.get("tool") or "").strip().lower()
    name = _ALIASES.get(raw)
    if name is None:  # {"query": ...} / {"answer": ...} without an action key
        if "answer" in obj and isinstance(obj["answer"], (str, int, float)):
            name = "answer"
        elif "query" in obj:
            name = "retrieve"
        elif "summary" in obj:
            name = "memorize"
        else:
            return None
    thought = str(obj.get("thought") or "")
    if name == "retrieve":
        q = obj.get("query") or obj.get("search") or obj.get("input") or ""
        if not isinstance(q, str) or not q.strip():
            raise ActionError('a retrieve action needs a non-empty "query" string')
        parents = obj.get("parents", obj.get("parent", []))
        parents = parents if isinstance(parents, list) else [parents]
        return Retrieve(q.strip(), parents, thought)
    if name == "answer":
        a = obj.get("answer", obj.get("input", ""))
        if isinstance(a, (int, float)) and not isinstance(a, bool):
            a = str(a)
        if not isinstance(a, str) or not a.strip():
            raise ActionError('an answer action needs a non-empty "answer" string')
        cite = obj.get("cite", obj.get("citations", []))
        cite = cite if isinstance(cite, list) else [cite]
        return Answer(a.strip(), [str(c) for c in cite if str(c).strip()], thought)
    summary = obj.get("summary", obj.get("memory", ""))
    if not isinstance(summary, str):
        summary = json.dumps(summary)
    keep = obj.get("keep", obj.get("mask"))
    node = _ints(obj.get("node"))
    return Memorize(
        summary.strip(),
        keep=None if keep is None else sorted(set(_ints(keep))),
        scores=_score_map(obj.get("scores", obj.get("score"))),
        keyframes=_keyframes(obj.get("keyframes")),
        node=node[0] if node else None,
    )


def parse_action(text: str, allowed: tuple[str, ...] = ACTIONS) -> Action:
    """Parse exactly one action of a kind in ``allowed`` from the policy's raw output.

    The first JSON object naming an allowed action wins; failing that, tag formats are tried. Raises
    :class:`ActionError` with a message fit to show the model.
    """
    errors: list[str] = []
    for obj in json_objects(text):
        try:
            act = _from_obj(obj)
        except ActionError as exc:
            errors.append(str(exc))
            continue
        if act is not None:
            if act.name in allowed:
                return act
            errors.append(f'"{act.name}" is not allowed now; allowed: {", ".join(allowed)}')
    for tag, body in _TAG.findall(text):
        body = body.strip()
        tag = tag.lower()
        if not body:
            continue
        if tag in ("search", "query", "retrieve") and "retrieve" in allowed:
            return Retrieve(body)
        if tag == "answer" and "answer" in allowed:
            return Answer(body)
        if tag in ("summary", "memorize") and "memorize" in allowed:
            return Memorize(body)
    if errors:
        raise ActionError(errors[0])
    raise ActionError("no action found: reply with exactly one JSON object, e.g. " + example_for(allowed))


def example_for(allowed: tuple[str, ...]) -> str:
    ex = {
        "retrieve": '{"action": "retrieve", "query": "...", "parents": [0]}',
        "memorize": '{"action": "memorize", "summary": "...", "keep": [1], "scores": {"1": 4}}',
        "answer": '{"action": "answer", "answer": "...", "cite": ["1.1"]}',
    }
    return " or ".join(ex[a] for a in allowed if a in ex)


def parse_cite(ref: str) -> tuple[int | None, int | None]:
    """``"2.1"`` / ``"n2.1"`` / ``"[2.1]"`` → (node 2, item 1); ``"2"`` → (node 2, None)."""
    nums = re.findall(r"\d+", str(ref))
    if not nums:
        return None, None
    if len(nums) == 1:
        return int(nums[0]), None
    return int(nums[0]), int(nums[1])
