"""What the agent needs from memory, and how evidence is written for the policy.

Evidence always uses PolarMem's tag format ``[Fact Check: VERIFIED|UNCERTAIN|CONFLICT] content``. For an
image, page or video item the content is its verified concept state plus its OCR text / transcript, so a
text-only policy (the embedded llama.cpp default) still "sees" the image the way PolarMem verified it.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Protocol, runtime_checkable

from PIL import Image

from vimrag.agent.graph import BankEntry
from vimrag.types import Item, LogicState, Modality, SearchResult


@runtime_checkable
class Retriever(Protocol):
    """Logic-aware search over the polarized memory (``vimrag.Memory`` satisfies it)."""

    def search(self, query: str, k: int) -> SearchResult: ...

    def load_image(self, item: Item) -> Image.Image | None: ...


_TAG = {LogicState.VERIFIED: "VERIFIED", LogicState.UNCERTAIN: "UNCERTAIN", LogicState.CONFLICT: "CONFLICT"}


def fact_tag(state: LogicState) -> str:
    return f"[Fact Check: {_TAG[LogicState(state)]}]"


def _name(item: Item) -> str:
    name = PurePath(item.source).name or item.source
    loc = str(item.locator)
    return f"{name} ({loc})" if loc else name


def concept_state(item: Item, max_each: int = 8) -> str:
    """``has cup, dining table; not person; unsure bottle`` — PolarMem's HAS / NOT_HAS / UNCERTAIN sets."""
    parts = []
    for label, names in (("has", item.has), ("not", item.not_has), ("unsure", item.uncertain)):
        if names:
            more = f" (+{len(names) - max_each})" if len(names) > max_each else ""
            parts.append(f"{label} {', '.join(names[:max_each])}{more}")
    return "; ".join(parts)


def evidence_text(item: Item, state: LogicState, max_chars: int | None = None) -> str:
    """One evidence line: ``[Fact Check: VERIFIED] image coffee.png: has cup; not person | text: ...``.

    ``max_chars`` bounds the content after the tag (the budget's text share); the tag and the item's
    name are always kept so the policy can cite it.
    """
    head = f"{fact_tag(state)} {item.modality} {_name(item)}"
    body_parts = []
    if item.modality != Modality.TEXT:
        cs = concept_state(item)
        if cs:
            body_parts.append(cs)
        if item.text.strip():
            label = "transcript" if item.modality == Modality.VIDEO else "text"
            body_parts.append(f"{label}: {item.text.strip()}")
    else:
        body_parts.append(item.text.strip())
    body = " | ".join(p for p in body_parts if p)
    body = " ".join(body.split())
    if max_chars is not None and len(body) > max_chars:
        body = body[: max(0, max_chars - 1)].rstrip() + "…"
    return f"{head}: {body}" if body else head


def entry_label(node_id: int, index: int) -> str:
    return f"{node_id}.{index}"


def bank_from_hits(result: SearchResult, max_chars: int) -> list[BankEntry]:
    """Turn ranked hits into bank entries, in rank order, with their evidence text."""
    return [
        BankEntry(h.item, LogicState(h.state), float(h.similarity), text=evidence_text(h.item, h.state, max_chars))
        for h in result.hits
    ]
