"""Evidence serialisation for the model: ``[Fact Check: {Status}] {Content}`` in rank order (PolarMem §3.4)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from vimrag.types import Item, LogicState, Modality, SearchHit

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


def fact_tag(state: LogicState) -> str:
    """PolarMem's verification-status tag (§3.4): ``[Fact Check: VERIFIED|UNCERTAIN|CONFLICT]``."""
    return f"[Fact Check: {_STATUS[LogicState(state)]}]"


def item_name(item: Item) -> str:
    """The file name with its locator (page, chunk, time span): what a model cites."""
    name = PurePath(item.source).name or item.source
    loc = str(item.locator)
    return f"{name} ({loc})" if loc else name


def concept_state(item: Item, max_each: int = 8) -> str:
    """``has cup, dining table; not person; uncertain bottle`` — PolarMem's HAS / NOT_HAS / UNCERTAIN sets."""
    parts = []
    for label, names in (("has", item.has), ("not", item.not_has), ("uncertain", item.uncertain)):
        if names:
            more = f" (+{len(names) - max_each})" if len(names) > max_each else ""
            parts.append(f"{label} {', '.join(names[:max_each])}{more}")
    return "; ".join(parts)


def evidence_text(item: Item, state: LogicState | None, max_chars: int | None = None) -> str:
    """One evidence line: ``[Fact Check: VERIFIED] image coffee.png: has cup; not person | text: ...``.

    The one formatter of evidence for every model prompt (agent methods, one-call RAG). For an image, page
    or video the content is its verified concept state plus its OCR text / transcript, so a text-only
    model still "sees" the image the way PolarMem verified it. ``state=None`` leaves the tag out (plain
    dense retrieval has no verification status). ``max_chars`` bounds the content after the name; the tag
    and the name are always kept so the model can cite the item.
    """
    head = f"{item.modality} {item_name(item)}"
    if state is not None:
        head = f"{fact_tag(state)} {head}"
    body_parts = []
    if item.modality != Modality.TEXT:
        body_parts.append(concept_state(item))
        if item.text.strip():
            label = "transcript" if item.modality == Modality.VIDEO else "text"
            body_parts.append(f"{label}: {item.text.strip()}")
    else:
        body_parts.append(item.text.strip())
    body = " ".join(" | ".join(p for p in body_parts if p).split())
    if max_chars is not None and len(body) > max_chars:
        body = body[: max(0, max_chars - 1)].rstrip() + "…"
    return f"{head}: {body}" if body else head


def serialize_evidence(hits: Sequence[SearchHit], max_chars: int = 600) -> str:
    """One evidence line per hit, in the given (rank) order."""
    return "\n".join(evidence_text(h.item, h.state, max_chars) for h in hits)
