"""Evidence serialisation for the model: ``[Fact Check: {Status}] {Content}`` in rank order (PolarMem §3.4)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath

from vimrag.types import Item, LogicState, Modality, SearchHit, heading_context

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


def concept_state(item: Item, max_each: int = 8, named: set[str] | None = None) -> str:
    """``has cup, dining table; not person; uncertain bottle`` — PolarMem's HAS / NOT_HAS / UNCERTAIN sets.

    With ``named`` (the concepts a question names, :func:`question_concepts`) the absences and the
    uncertain concepts are those the question names only; what the item has is always shown. Why: an
    item's NOT_HAS and UNCERTAIN sets run to dozens of closed-vocabulary names ("not wine glass, truck,
    couch … (+34); uncertain crossword puzzle, tv …" on a bar chart) — 143 characters per image or page
    result on the demo's searches, 24 with this filter — and no answer uses them unless the question asks
    about that concept ("a cup but no person" still gets "not person"). The freed characters go to the
    item's text within the same budget. The verification-status tag is unchanged.
    """
    parts = []
    for label, names in (("has", item.has), ("not", item.not_has), ("uncertain", item.uncertain)):
        if named is not None and label != "has":
            names = [n for n in names if n in named]
        if names:
            more = f" (+{len(names) - max_each})" if len(names) > max_each else ""
            parts.append(f"{label} {', '.join(names[:max_each])}{more}")
    return "; ".join(parts)


def question_concepts(question: str) -> set[str]:
    """The concept names a question can mean: its words and word pairs, singular and lower case
    (``normalize_concept``), its query phrases of either polarity (``parse_rules``: "nobody" → person), and
    what they reach through the everyday ``SYNONYMS`` ("people" → person, "mug" → cup) and ``CATEGORIES``
    ("animals" → dog, cat, …)."""
    from vimrag.polar.concepts import CATEGORIES, SYNONYMS, normalize_concept
    from vimrag.polar.query import parse_rules

    words = [w for w in (normalize_concept(t) for t in re.findall(r"[\w'-]+", question.lower())) if w]
    parsed = parse_rules(question)
    names = {*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False)),
             *(normalize_concept(p) for p in (*parsed.positive, *parsed.negative))}
    names |= {SYNONYMS[n] for n in names if n in SYNONYMS}
    names |= {m for n in list(names) for m in CATEGORIES.get(n, ())}
    return {n for n in names if n}


#: At most this many cells are pointed out for one table (more means the question names whole rows/columns).
MAX_QUESTION_CELLS = 4


def _markdown_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|") and not set(line) <= set("|-: "):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line[1:-1])])
    return rows


def question_cells(item: Item, question: str) -> list[str]:
    """The cells of a table item — or of a page's charts and unruled tables read by row and column
    (``item.meta["matrices"]``, :mod:`vimrag.ingest.pdf_matrices`) — that the question points at by row
    label and column header.

    A small model handed "North: Q1 = 980; …; Q3 = 1,240; …; Total = 4,335" for "how many did the North
    region sell in Q3?" answers with the wrong column; naming the cell (``North × Q3 = 1,240``) — a
    table's coordinate-grounded slice, in the spirit of PolarMem's answer stage (Appendix B) — does not
    leave it that choice. A row or column matches when every word of its label is a word of the question
    (the lexical channel's tokens: case, plurals and number formats folded); nothing is pointed out when
    the question names no row and column of the table, or more than ``MAX_QUESTION_CELLS`` cells.
    """
    if not question:
        return []
    if item.meta.get("kind") == "table":
        tables = [_markdown_rows(item.text)]
    else:  # a page's charts and unruled tables, read by row and column (``ingest.pdf_matrices``)
        found = item.meta.get("matrices")
        tables = [t for t in found if isinstance(t, list)] if isinstance(found, list) else []
    from vimrag.index.lexical import tokenize

    words = set(tokenize(question))

    def named(toks: set[str]) -> bool:
        return bool(toks) and toks <= words

    cells: list[str] = []
    for rows in tables:
        if len(rows) < 2 or not all(isinstance(r, list) for r in rows):
            continue
        header, body = [str(c) for c in rows[0]], rows[1:]
        toks = {j: set(tokenize(header[j])) for j in range(1, len(header))}
        cols = [j for j in toks if named(toks[j])]
        # the most specific head wins: "a major reason" names "Major reason", not also "NOT a reason" ({reason})
        cols = [j for j in cols if not any(toks[j] < toks[k] for k in cols)]
        for r in ([str(c) for c in row] for row in body if row and named(set(tokenize(str(row[0]))))):
            cells += [f"{r[0]} × {header[j]} = {r[j]}" for j in cols if j < len(r) and r[j]]
    return cells if len(cells) <= MAX_QUESTION_CELLS else []


def evidence_text(item: Item, state: LogicState | None, max_chars: int | None = None, question: str = "") -> str:
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
    label, text = "", " ".join(item.text.split())
    cells = question_cells(item, question)  # a table item's, or a page's charts read by row and column
    named = "cells the question names: " + "; ".join(cells) if cells else ""
    if item.modality != Modality.TEXT:
        concepts = concept_state(item, named=question_concepts(question) if question else None)
        lead = " | ".join(x for x in (concepts, named) if x)
        label = ("transcript: " if item.modality == Modality.VIDEO else "text: ") if text else ""
    else:
        lead = named
        context = heading_context(item.meta, text)
        text = f"[{context}] {text}" if context and text else text  # what the chunk's page is about
    body = " | ".join(x for x in (lead, label + text) if x)
    if max_chars is not None and len(body) > max_chars:
        # what leads (an image's verified state, the table cells the question names) stays whole; the text
        # is focused on the question within what is left
        room = max_chars - len(lead) - 3 - len(label)
        if lead and text and room >= _MIN_PIECE:
            body = f"{lead} | {label}{focus(text, question, room)}"
        else:
            body = focus(body, question, max_chars)
    return f"{head}: {body}" if body else head


_MIN_PIECE = 40  # characters worth showing of a sentence cut to fit
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\s+\|\s+")


def focus(body: str, question: str, max_chars: int) -> str:
    """``body`` cut to ``max_chars``, keeping the sentences that cover the question's words.

    Why: the text-only policy sees each kept item through a budget of characters (Ω's tokens × 4), often a
    few hundred. Cut from the head, an item keeps its opening and loses the sentence the question is about
    when that sentence comes later in the chunk. This is the text analogue of VimRAG's saliency mask u (§3.1), which keeps
    the question's regions of an image: sentences are taken greedily by the question words (the lexical
    channel's tokens) they add to those already covered — the last one cut to fit if at least
    ``_MIN_PIECE`` characters are left — then the rest of the budget is filled in reading order; the
    kept sentences keep their order, gaps marked "…". With no question word in the body it is the head cut.
    """
    end = max(0, max_chars - 1)
    from vimrag.index.lexical import tokenize

    words = set(tokenize(question)) if question else set()
    sents = [x for x in _SENTENCE_END.split(body) if x]
    hits = [words & set(tokenize(x)) for x in sents]
    if not any(hits):
        return body[:end].rstrip() + "…"
    kept: dict[int, str] = {}
    covered: set[str] = set()
    used = 0
    while True:
        gain = {i: len(h - covered) for i, h in enumerate(hits) if i not in kept}
        best = max(gain, key=lambda i: (gain[i], -i), default=None)
        if best is None or gain[best] == 0:
            break
        room = end - used
        if len(sents[best]) + 3 <= room:  # a piece costs a space and perhaps a gap mark "… "
            kept[best] = sents[best]
        elif room >= _MIN_PIECE:
            kept[best] = sents[best][:room - 4].rstrip() + "…"
        else:
            break
        covered |= hits[best]
        used += len(kept[best]) + 3
    for i, x in enumerate(sents):  # the rest of the budget in reading order
        if i not in kept and used + len(x) + 3 <= end:
            kept[i] = x
            used += len(x) + 3
    if not kept:
        return body[:end].rstrip() + "…"
    out: list[str] = []
    last = -1
    for i in sorted(kept):
        if i != last + 1:
            out.append("…")
        out.append(kept[i])
        last = i
    if last != len(sents) - 1 and not out[-1].endswith("…"):
        out.append("…")
    return " ".join(out)


def serialize_evidence(hits: Sequence[SearchHit], max_chars: int = 600) -> str:
    """One evidence line per hit, in the given (rank) order."""
    return "\n".join(evidence_text(h.item, h.state, max_chars) for h in hits)
