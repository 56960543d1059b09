"""Citations drawn from the memory graph: (source, locator) of the bank entries an answer relies on.

The policy's ``cite`` list (``"2.1"`` = item 1 of node 2, ``"2"`` = node 2) is honoured when it points at
real entries; otherwise the answer rests on the salient items of the nodes on the path to the answer
node, best scored first. A video entry's locator carries the keyframes that memorize kept.
"""

from __future__ import annotations

from typing import Any

from vimrag.agent.actions import parse_cite
from vimrag.agent.graph import BankEntry, MemoryGraph


def _citation(entry: BankEntry) -> dict[str, Any]:
    loc = entry.item.locator.to_dict()
    if entry.keyframes:
        loc["keyframes"] = [float(t) for t in entry.keyframes]
    return {"id": entry.item_id, "source": entry.item.source, "locator": loc}


def cited_entries(graph: MemoryGraph, cite: list[str]) -> list[tuple[int, int]]:
    """Resolve ``cite`` references to existing (node, 1-based index) pairs; a bare node means its kept items."""
    out: list[tuple[int, int]] = []
    for ref in cite:
        nid, idx = parse_cite(ref)
        if nid is None or not 0 < nid < len(graph):
            continue
        node = graph.nodes[nid]
        if idx is not None:
            if 0 < idx <= len(node.bank):
                out.append((nid, idx))
        else:
            out.extend((nid, i) for i, _ in node.salient())
    return list(dict.fromkeys(out))


def answer_node_for(graph: MemoryGraph, cited: list[tuple[int, int]]) -> int | None:
    """The node an answer hangs on: the newest cited node, else the newest node that kept evidence."""
    if cited:
        return max(n for n, _ in cited)
    for node in reversed(graph.nodes[1:]):
        if node.salient():
            return node.id
    return None


def _answer_region(graph: MemoryGraph, page: BankEntry, answer: str) -> tuple[int, int] | None:
    """A table or figure of the cited page, retrieved too, whose text holds every word of the answer: the
    region the answer was read from (the page's text repeats the table's rows, and the policy cites the
    page when it ranks first)."""
    from vimrag.index.lexical import tokenize

    words = set(tokenize(answer))
    loc = page.item.locator
    if not words or loc.page is None or loc.box is not None:
        return None
    for node in graph.nodes[1:]:
        for i, e in enumerate(node.bank, 1):
            el = e.item.locator
            if (e.item.source == page.item.source and el.page == loc.page and el.box is not None
                    and words <= set(tokenize(e.item.text))):
                return node.id, i
    return None


def citations_for(
    graph: MemoryGraph, cite: list[str], limit: int = 5, relevant_score: int = 3, answer: str = ""
) -> tuple[list[dict[str, Any]], int | None]:
    """(citations, answer node), deduplicated by (source, locator); at most ``limit`` (``agent.max_citations``).

    With no usable ``cite``, the kept items of the answer's path with relevance ≥ ``relevant_score``
    (``agent.relevant_score``; unscored items count as 3), best first. A cited page is preceded by the
    table or figure of that page whose text holds the ``answer`` (:func:`_answer_region`), so the
    citation carries the region's box."""
    cited = cited_entries(graph, cite)
    answer_node = answer_node_for(graph, cited)
    if not cited and answer_node is not None:
        pool = [(n, i, e) for n in graph.answer_support(answer_node) for i, e in graph.nodes[n].salient()]
        pool.sort(key=lambda t: (-(t[2].score if t[2].score is not None else 3), -t[2].similarity, t[0], t[1]))
        cited = [(n, i) for n, i, e in pool if e.score is None or e.score >= relevant_score] or [
            (n, i) for n, i, _ in pool[:1]]
    refined: list[tuple[int, int]] = []
    for n, i in cited:
        region = _answer_region(graph, graph.nodes[n].bank[i - 1], answer)
        refined += [region, (n, i)] if region is not None else [(n, i)]
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, i in refined:
        c = _citation(graph.nodes[n].bank[i - 1])
        key = repr((c["source"], sorted(c["locator"].items())))
        if key not in seen:
            seen.add(key)
            out.append(c)
        if len(out) >= limit:
            break
    return out, answer_node
