"""λ, the lexical weight of the fused similarity (issue 22), from ``polar.similarity`` and the query.

``dense`` is PolarMem's similarity (z_sem cosine only, λ = 0); ``lexical`` ranks by BM25 inside each tier
with the cosine breaking ties (λ = 1); ``hybrid`` fuses them. Under ``hybrid`` the weight adapts to the
query: words an embedding blurs — numbers, codes with digits or joiners, quoted phrases, capitalised names
inside the sentence — raise it from ``lexical_weight`` towards ``lexical_weight_specific`` in proportion to
their share of the query's terms. On the dev benchmarks (``benchmarks/text_retrieval.py``,
``benchmarks/doc_retrieval.py``; design notes, "Lexical channel") the rise did not pay (a fixed 0.3 had the
better recall@5 on both), so by default both are 0.3 and the rise is a setting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from vimrag.index.lexical import tokenize

SIMILARITIES = ("dense", "lexical", "hybrid")
_QUOTED = re.compile(r"[\"“”']([^\"“”']{2,80})[\"“”']")
_NAME = re.compile(r"(?<=\w[ ,;:])([A-Z][\w\-]+)")


def specific_terms(text: str, terms: Sequence[str]) -> set[str]:
    """The query terms that an embedding tends to blur: numbers, codes, quoted words, names."""
    out = {t for t in terms if any(ch.isdigit() for ch in t) or any(ch in t for ch in "-_./")}
    for m in _QUOTED.finditer(text):
        out |= set(tokenize(m.group(1)))
    for m in _NAME.finditer(text):
        out |= set(tokenize(m.group(1)))
    return out & set(terms)


def lexical_weight(polar: Any, text: str, terms: Sequence[str], similarity: str | None = None) -> float:
    """λ for this query: 0 under ``dense``, 1 under ``lexical``, adaptive under ``hybrid``; ``similarity``
    overrides ``polar.similarity``."""
    mode = similarity or str(polar.similarity)
    if mode == "dense" or not terms:
        return 0.0
    if mode == "lexical":
        return 1.0
    base = float(polar.lexical_weight)
    top = float(polar.lexical_weight_specific)
    share = len(specific_terms(text, terms)) / len(terms)
    return base + (top - base) * share
