"""PolarMem Algorithm 1: logic state of an item for a query, lexicographic ranking, explanations.

state = CONFLICT if Q+ ∩ NOT_HAS ≠ ∅ or Q− ∩ HAS ≠ ∅; VERIFIED if Q+ ∩ HAS ≠ ∅; else UNCERTAIN (neutral).
Items are ranked by (state, similarity): a conflict never outranks a neutral item, a neutral never
outranks a verified one; similarity only orders items inside a state.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TypeVar

from vimrag.types import LogicState

T = TypeVar("T")


def logic_state(
    has: Collection[str], not_has: Collection[str], pos: Collection[str], neg: Collection[str]
) -> LogicState:
    h, n, p, q = set(has), set(not_has), set(pos), set(neg)
    if p & n or q & h:
        return LogicState.CONFLICT
    if p & h:
        return LogicState.VERIFIED
    return LogicState.UNCERTAIN


def lexicographic_rank(candidates: Sequence[T], states: Sequence[int], sims: Sequence[float]) -> list[T]:
    """Candidates sorted by (state desc, similarity desc); stable for exact ties."""
    order = sorted(range(len(candidates)), key=lambda i: (-int(states[i]), -float(sims[i]), i))
    return [candidates[i] for i in order]


def explain(
    state: LogicState, has: Collection[str], not_has: Collection[str], pos: Collection[str], neg: Collection[str],
    entities: Collection[str] = (),
) -> str:
    """Why an item got its state, in the words the CLI and the model see."""
    h, n = set(has), set(not_has)
    if state == LogicState.CONFLICT:
        reasons = []
        has_neg, not_pos = sorted(set(neg) & h), sorted(set(pos) & n)
        if has_neg:
            reasons.append("excluded: has " + ", ".join(f"*{c}*" for c in has_neg))
        if not_pos:
            reasons.append("conflict: verified NOT to have " + ", ".join(f"*{c}*" for c in not_pos))
        return "; ".join(reasons) or "conflict"
    if state == LogicState.VERIFIED:
        return "verified: has " + ", ".join(f"*{c}*" for c in sorted(set(pos) & h))
    parts = []
    mentioned = sorted(set(pos) & set(entities))
    if mentioned:
        parts.append("mentions " + ", ".join(f"*{c}*" for c in mentioned))
    unknown = sorted(set(pos) - h - n)
    if pos and unknown:
        parts.append("not verified: " + ", ".join(f"*{c}*" for c in unknown))
    return "; ".join(parts) if parts else "similarity only"
