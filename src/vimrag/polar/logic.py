"""PolarMem Algorithm 1: logic state of an item for a query, lexicographic ranking, explanations.

state = CONFLICT if Q+ ∩ NOT_HAS ≠ ∅ or Q− ∩ HAS ≠ ∅; VERIFIED if Q+ ∩ HAS ≠ ∅; else UNCERTAIN (neutral).
Items are ranked by (state, similarity): a conflict never outranks a neutral item, a neutral never
outranks a verified one; similarity only orders items inside a state.

**Strict negation** (``PolarConfig.strict_negation``, on by default; a deviation from Algorithm 1): an
item is VERIFIED only if, besides Q+ ∩ HAS ≠ ∅, every Q− concept is verified NOT_HAS on it (Q− ⊆ NOT_HAS).
Algorithm 1 calls an item with *A* HAS and *B* UNCERTAIN (or never checked) verified for "A but not B";
on coco128 those items were most of the results that did contain *B* — the perceiver could not decide,
so the absence the user asked for was not verified. With the flag they rank as neutral instead.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TypeVar

from vimrag.types import LogicState

T = TypeVar("T")


def logic_state(
    has: Collection[str], not_has: Collection[str], pos: Collection[str], neg: Collection[str],
    strict: bool = False,
) -> LogicState:
    """The item's state for (Q+, Q−); ``strict`` also requires Q− ⊆ NOT_HAS for VERIFIED."""
    h, n, p, q = set(has), set(not_has), set(pos), set(neg)
    if p & n or q & h:
        return LogicState.CONFLICT
    if p & h and (not strict or q <= n):
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
        why = "verified: has " + ", ".join(f"*{c}*" for c in sorted(set(pos) & h))
        absent = sorted(set(neg) & n)
        return why + ("; verified absent: " + ", ".join(f"*{c}*" for c in absent) if absent else "")
    parts = []
    if set(pos) & h:
        parts.append("has " + ", ".join(f"*{c}*" for c in sorted(set(pos) & h)))
    mentioned = sorted(set(pos) & set(entities))
    if mentioned:
        parts.append("mentions " + ", ".join(f"*{c}*" for c in mentioned))
    unknown = sorted(set(pos) - h - n)
    if pos and unknown:
        parts.append("not verified: " + ", ".join(f"*{c}*" for c in unknown))
    unverified_absent = sorted(set(neg) - n)
    if unverified_absent:
        parts.append("absence not verified: " + ", ".join(f"*{c}*" for c in unverified_absent))
    return "; ".join(parts) if parts else "similarity only"
