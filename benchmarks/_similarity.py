"""Shared by the retrieval benchmarks of issue 22: the similarity variants measured through ``Memory.search``
(dense, lexical, fixed-λ hybrids, the adaptive default) and reciprocal-rank fusion of two rankings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any


def variants(polar: Any, weights: Sequence[float]) -> list[tuple[str, dict[str, Any], str]]:
    out: list[tuple[str, dict[str, Any], str]] = [
        ("memory-dense", {"similarity": "dense"}, "Memory.search, polar.similarity = dense (the paper's)"),
        ("memory-lexical", {"similarity": "lexical"}, "Memory.search, polar.similarity = lexical (BM25 first)"),
    ]
    for lam in weights:
        out.append((f"memory-hybrid-{lam:g}", {"similarity": "hybrid", "lexical_weight": lam,
                                                "lexical_weight_specific": lam}, f"hybrid, fixed λ = {lam:g}"))
    out.append(("memory-hybrid-adaptive", {"similarity": "hybrid"},
                f"the default: hybrid, λ = {polar.lexical_weight:g} rising to {polar.lexical_weight_specific:g} "
                "for numbers, codes, names"))
    return out


def rrf(*rankings: Sequence[str], k: int = 60) -> list[str]:
    score: dict[str, float] = {}
    for lst in rankings:
        for i, key in enumerate(lst):
            score[key] = score.get(key, 0.0) + 1.0 / (k + i + 1)
    return sorted(score, key=lambda key: -score[key])


def run(mem: Any, questions: Sequence[str], key: Callable[[Any], str], depth: int,
        weights: Sequence[float]) -> tuple[dict[str, list[list[str]]], dict[str, str]]:
    """Rankings (deduplicated keys of the hits) of every variant, plus RRF of dense and lexical."""
    polar0 = mem.retriever.polar
    ranked: dict[str, list[list[str]]] = {}
    whats: dict[str, str] = {}
    try:
        for name, over, what in variants(polar0, weights):
            mem.retriever.polar = replace(polar0, **over)
            ranked[name] = [list(dict.fromkeys(key(h) for h in mem.search(q, k=depth).hits)) for q in questions]
            whats[name] = what
    finally:
        mem.retriever.polar = polar0
    ranked["memory-rrf"] = [rrf(d, x) for d, x in zip(ranked["memory-dense"], ranked["memory-lexical"], strict=True)]
    whats["memory-rrf"] = "reciprocal-rank fusion (k = 60) of memory-dense and memory-lexical"
    return ranked, whats
