"""Evidence serialisation for the model: ``[Fact Check: {Status}] {Content}`` in rank order (PolarMem §3.4)."""

from __future__ import annotations

from collections.abc import Sequence

from vimrag.types import Item, LogicState, SearchHit

_STATUS = {LogicState.VERIFIED: "VERIFIED", LogicState.UNCERTAIN: "UNCERTAIN", LogicState.CONFLICT: "CONFLICT"}


def serialize_state(item: Item, max_concepts: int = 12) -> str:
    """'has: cup, dining table; not: person; uncertain: bottle' — the concept state of an item (Eq. 10)."""
    parts = []
    for label, names in (("has", item.has), ("not", item.not_has), ("uncertain", item.uncertain)):
        if names:
            parts.append(f"{label}: " + ", ".join(names[:max_concepts]))
    if item.entities:
        parts.append("mentions: " + ", ".join(item.entities[:max_concepts]))
    return "; ".join(parts)


def describe_item(item: Item, max_chars: int = 600) -> str:
    """Source + locator, then text and concept state, on one line."""
    loc = str(item.locator)
    head = f"{item.source}" + (f" ({loc})" if loc else "") + f" [{item.modality}]"
    body = []
    state = serialize_state(item)
    if state:
        body.append(state)
    text = " ".join(item.text.split())
    if text:
        body.append(text[:max_chars] + ("…" if len(text) > max_chars else ""))
    return head + (": " + " | ".join(body) if body else "")


def serialize_evidence(hits: Sequence[SearchHit], max_chars: int = 600) -> str:
    """One line per hit, in the given (rank) order."""
    return "\n".join(f"[Fact Check: {_STATUS[h.state]}] {describe_item(h.item, max_chars)}" for h in hits)
