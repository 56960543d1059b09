"""What the agent needs from memory (a :class:`Retriever`), and search hits as bank entries.

Evidence is written by the one formatter, :func:`vimrag.polar.evidence.evidence_text` (PolarMem's
``[Fact Check: …]`` tag, then the item's verified concept state and text).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

from PIL import Image

from vimrag.agent.graph import BankEntry
from vimrag.polar.evidence import evidence_text
from vimrag.types import Item, LogicState, Modality, SearchResult

#: The results whose text can bridge to a second hop: passages and pages (a photo's text is its concept state).
HOP_MODALITIES = frozenset({Modality.TEXT, Modality.PAGE})


@runtime_checkable
class Retriever(Protocol):
    """Logic-aware search over the polarized memory (``vimrag.Memory`` satisfies it)."""

    def search(self, query: str, k: int) -> SearchResult: ...

    def load_image(self, item: Item) -> Image.Image | None: ...


def entry_label(node_id: int, index: int) -> str:
    return f"{node_id}.{index}"


def bank_from_hits(result: SearchResult, max_chars: int, question: str = "") -> list[BankEntry]:
    """Turn ranked hits into bank entries, in rank order, with their evidence text (a table's entry names
    the cells the question points at: :func:`vimrag.polar.evidence.question_cells`)."""
    return [
        BankEntry(h.item, LogicState(h.state), float(h.similarity),
                  text=evidence_text(h.item, h.state, max_chars, question))
        for h in result.hits
    ]


def second_hop(retriever: Retriever, query: str, k: int, hop: int, chars: int) -> SearchResult:
    """``retriever.search(query, k)`` whose last ``hop`` places come from a second search for the query plus
    the first ``chars`` characters of its best passage or page (MDR-style query expansion; not in the paper).

    Why: a multi-hop question's second passage shares few words with the question but many with the first
    one ("the director of Jaws" → the Spielberg passage names him). On HotpotQA-100 with k = 5, the top 5
    of the question held both gold passages for 67 of 100 questions, this mix for 75 (design notes, "A
    second hop by retrieval"). The first k − hop results keep their places; the second search's results
    that are not among them fill the rest, then the first search's own remaining results. Nothing changes
    when ``hop`` is 0, or the best result is not text (photos, videos: their text is a concept state).
    """
    first = retriever.search(query, k)
    if hop <= 0 or not first.hits:
        return first
    best = first.hits[0].item
    bridge = best.text if best.modality in HOP_MODALITIES else ""
    if not bridge.strip():
        return first
    keep = first.hits[: k - hop]
    taken = {h.item.id for h in keep}
    extra = [h for h in retriever.search(f"{query} {bridge[:chars]}", k).hits if h.item.id not in taken]
    taken.update(h.item.id for h in extra)
    fill = [h for h in first.hits[k - hop:] if h.item.id not in taken]
    return dataclasses.replace(first, hits=(keep + extra + fill)[:k])
