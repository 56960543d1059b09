"""What the agent needs from memory (a :class:`Retriever`), and search hits as bank entries.

Evidence is written by the one formatter, :func:`vimrag.polar.evidence.evidence_text` (PolarMem's
``[Fact Check: …]`` tag, then the item's verified concept state and text).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from PIL import Image

from vimrag.agent.graph import BankEntry
from vimrag.polar.evidence import evidence_text
from vimrag.types import Item, LogicState, SearchResult


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
