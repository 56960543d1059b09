"""Core data types shared by ingest, polar memory, stores and the agent.

An :class:`Item` is the unit of memory (DESIGN §1): a text chunk, an image, a document page or a video
segment. Every item keeps its source file, the file's content hash and a :class:`Locator`, so answers
can cite the exact page, frame and timestamp and removing a file removes everything derived from it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

import numpy as np


class Modality(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    PAGE = "page"
    VIDEO = "video"


class Polarity(IntEnum):
    """Verified state of a concept for one item (PolarMem Eq. 6): HAS / NOT_HAS / UNCERTAIN."""

    NOT_HAS = -1
    UNCERTAIN = 0
    HAS = 1


class LogicState(IntEnum):
    """Logic state of an item w.r.t. a query (PolarMem Algorithm 1). Ordered: VERIFIED > UNCERTAIN > CONFLICT.

    CONFLICT: Q+ ∩ NOT_HAS ≠ ∅ or Q− ∩ HAS ≠ ∅.  VERIFIED: otherwise, if Q+ ∩ HAS ≠ ∅.  UNCERTAIN (neutral):
    neither. The name UNCERTAIN matches the evidence tag ``[Fact Check: UNCERTAIN]``.
    """

    CONFLICT = -1
    UNCERTAIN = 0
    VERIFIED = 1

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Locator:
    """Where inside its source an item lives. All fields optional; what is set depends on the modality.

    ``page`` is 1-based (a PDF page, a slide). ``start``/``end`` are seconds into a video. ``box`` is the
    region (x1, y1, x2, y2) normalised to 0–1000 of the page, slide or image (PolarMem's convention), so it
    means the same at any rendering size. ``keyframes`` are the timestamps (seconds) of the frames kept for a
    video segment. ``sheet`` and ``cells`` ("A1:F40") locate a spreadsheet table.
    """

    page: int | None = None
    start: float | None = None
    end: float | None = None
    box: tuple[float, float, float, float] | None = None
    chunk: int | None = None
    keyframes: tuple[float, ...] = ()
    sheet: str | None = None
    cells: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None and v != ()}
        if "box" in d:
            d["box"] = list(d["box"])
        if "keyframes" in d:
            d["keyframes"] = list(d["keyframes"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Locator:
        d = dict(d or {})
        if d.get("box") is not None:
            d["box"] = tuple(float(x) for x in d["box"])
        d["keyframes"] = tuple(float(x) for x in d.get("keyframes", ()))
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def key(self) -> str:
        """Stable string used in item ids."""
        return ";".join(f"{k}={v}" for k, v in sorted(self.to_dict().items()) if k != "keyframes")

    def __str__(self) -> str:
        parts: list[str] = []
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.start is not None:
            end = f"–{format_timestamp(self.end)}" if self.end is not None else ""
            parts.append(f"{format_timestamp(self.start)}{end}")
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet}" + (f" {self.cells}" if self.cells else ""))
        if self.chunk is not None and self.page is None and self.start is None and self.sheet is None:
            parts.append(f"chunk {self.chunk}")
        if self.box is not None:
            parts.append("box " + ",".join(f"{v:.0f}" for v in self.box))
        return ", ".join(parts)


def format_timestamp(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, s = divmod(float(seconds), 60.0)
    h, m = divmod(int(m), 60)
    return f"{h:d}:{m:02d}:{s:05.2f}" if h else f"{m:d}:{s:05.2f}"


@dataclass(frozen=True)
class ConceptEvidence:
    """One concept's verified state on one item: polarity, ensemble score s_c (PolarMem Eq. 4) and origin."""

    concept: str
    polarity: Polarity
    score: float
    origin: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"concept": self.concept, "polarity": self.polarity.name, "score": round(float(self.score), 4),
                "origin": self.origin}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConceptEvidence:
        return cls(d["concept"], Polarity[d["polarity"]], float(d["score"]), d.get("origin", ""))


@dataclass
class Item:
    """A unit of memory with its verified concepts and its semantic vector z_sem (PolarMem Eq. 10)."""

    id: str
    source: str
    source_hash: str
    modality: Modality
    locator: Locator = field(default_factory=Locator)
    text: str = ""
    concepts: list[ConceptEvidence] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    media: str | None = None
    vector: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def concepts_with(self, polarity: Polarity) -> list[str]:
        return [c.concept for c in self.concepts if c.polarity == polarity]

    @property
    def has(self) -> list[str]:
        return self.concepts_with(Polarity.HAS)

    @property
    def not_has(self) -> list[str]:
        return self.concepts_with(Polarity.NOT_HAS)

    @property
    def uncertain(self) -> list[str]:
        return self.concepts_with(Polarity.UNCERTAIN)


def heading_context(meta: dict[str, Any] | None, text: str) -> str:
    """The headings above a text chunk that its own text does not already start with: ``"Lakeside depot"``
    for the chunk "Getting there — Take the number 14 bus …" under ``# Lakeside depot`` / ``## Getting there``.

    A chunk never spans two sections (``vimrag.ingest.text``), so a short section loses what its page is
    about; the embedding, the lexical channel and the evidence shown to the model carry this path with the
    text (the stored text stays verbatim, so a citation can still quote it)."""
    heads = [str(h).strip() for h in ((meta or {}).get("headings") or []) if str(h).strip()]
    if heads and " ".join(text.lstrip("#= \t\r\n").split()).startswith(" ".join(heads[-1].split())):
        heads = heads[:-1]
    return " › ".join(heads)


def item_id(source_hash: str, modality: Modality | str, locator: Locator) -> str:
    """Deterministic id: the same content at the same place always gets the same id (idempotent ingest)."""
    h = hashlib.sha1(f"{source_hash}|{modality}|{locator.key()}".encode()).hexdigest()
    return h[:20]


@dataclass
class SearchHit:
    """One ranked result of logic-aware retrieval."""

    item: Item
    state: LogicState
    similarity: float
    explanation: str = ""
    dense: float | None = None  # cosine of z_sem and the query (Eq. 10)
    lexical: float | None = None  # raw BM25 of the item's words (the lexical channel)
    matched: list[str] = field(default_factory=list)  # query terms found in the item's words
    # P(the item satisfies the query's concepts) from its verification scores (vimrag.polar.ranking); None when
    # the query has no concepts or evidence ranking is off
    evidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.item.id,
            "source": self.item.source,
            "locator": self.item.locator.to_dict(),
            "modality": str(self.item.modality),
            "state": self.state.label,
            "similarity": round(float(self.similarity), 6),
            "explanation": self.explanation,
        }
        if self.dense is not None:  # "similarity" ranked the hit inside its tier: the fused score
            out["scores"] = {"dense": round(float(self.dense), 6), "lexical": round(float(self.lexical or 0.0), 6),
                             "fused": round(float(self.similarity), 6)}
            out["matched"] = list(self.matched)
        if self.evidence is not None:
            out["evidence"] = round(float(self.evidence), 4)
        return out


@dataclass
class SearchResult:
    """The answer of ``Memory.search``: the parsed query and hits in lexicographic (state, similarity) order."""

    query: str
    positive: list[str]
    negative: list[str]
    hits: list[SearchHit]
    excluded: list[SearchHit] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)  # the query's words for the lexical channel
    lexical_weight: float = 0.0  # λ of the fused similarity (0: dense only)
    unmatched: list[str] = field(default_factory=list)  # query concepts that reach no memory concept

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query if len(self.query) <= 1000 else self.query[:999] + "…",  # echo, not a copy
            "positive": list(self.positive),
            "negative": list(self.negative),
            "unmatched": list(self.unmatched),  # these constrain nothing: they act through the similarity only
            "lexical": {"terms": list(self.terms), "weight": round(float(self.lexical_weight), 4)},
            "results": [h.to_json() for h in self.hits],
            "excluded": [h.to_json() for h in self.excluded],
        }
