"""Citations drawn from the memory graph: (source, locator) of the bank entries an answer relies on.

The policy's ``cite`` list (``"2.1"`` = item 1 of node 2, ``"2"`` = node 2) is honoured when it points at
real entries; otherwise the answer rests on the salient items of the nodes on the path to the answer
node, best scored first. A video entry's locator carries the keyframes that memorize kept.
"""

from __future__ import annotations

from pathlib import Path
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


def _entry_words(entry: BankEntry) -> set[str]:
    from vimrag.index.lexical import tokenize

    return set(tokenize(f"{Path(entry.item.source).name} {entry.text} {entry.item.text}"))


def supporting_entries(graph: MemoryGraph, answer: str, cited: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The graph's items that hold the answer: every word the answer adds to the question (the file name
    for "which photo …", the figures and names of a fact) occurs in the item's source name or text.

    When the answer names a file, that file's items alone (not a text that mentions the name); among the
    holders the policy's own cites come first, then higher memorize scores, then retrieval order; the
    policy's cites that hold part of the answer follow. Empty when no item holds all of it (a yes/no
    answer, a paraphrase): the caller then keeps the policy's cites.

    Why: a 1.5B policy gets the answer right more often than the reference to it — on the demo it cited a
    video for "coffee.png", the licence file for "Q3; 3.1 million euros" and for a name said in a video.
    The answer itself is checked against the memory; a citation the answer cannot be found in is no
    citation. (Not in the paper, whose answer carries no citations.)
    """
    from vimrag.index.lexical import tokenize

    words = set(tokenize(answer))
    words = (words - set(tokenize(graph.question))) or words
    if not words:
        return []
    cited_set = set(cited)
    full: list[tuple[tuple[int, int, int, float], tuple[int, int]]] = []
    for node in graph.nodes[1:]:
        for i, e in enumerate(node.bank, 1):
            if words <= _entry_words(e):
                named = words <= set(tokenize(Path(e.item.source).name))  # the answer is this file's name
                rank = (0 if named else 1, 0 if (node.id, i) in cited_set else 1,
                        -(e.score if e.score is not None else 3), -e.similarity)
                full.append((rank, (node.id, i)))
    if not full:
        return []
    if min(full)[0][0] == 0:  # a file named by the answer, not a text that mentions its name
        full = [f for f in full if f[0][0] == 0]
    chosen = [key for _, key in sorted(full)]
    partial = [key for key in cited if key not in chosen
               and words & _entry_words(graph.nodes[key[0]].bank[key[1] - 1])]
    return list(dict.fromkeys(chosen + partial))


def citations_for(
    graph: MemoryGraph, cite: list[str], limit: int = 5, relevant_score: int = 3, answer: str = "",
    attribute: bool = True,
) -> tuple[list[dict[str, Any]], int | None]:
    """(citations, answer node), deduplicated by (source, locator); at most ``limit`` (``agent.max_citations``).

    With ``attribute`` (``agent.attribute_citations``), the items that hold the answer
    (:func:`supporting_entries`) when there are any; else the policy's usable ``cite``; else the kept
    items of the answer's path with relevance ≥ ``relevant_score`` (``agent.relevant_score``; unscored
    items count as 3), best first. A cited page is preceded by the table or figure of that page whose text
    holds the ``answer`` (:func:`_answer_region`), so the citation carries the region's box."""
    cited = cited_entries(graph, cite)
    if attribute and answer:
        cited = supporting_entries(graph, answer, cited) or cited
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
