"""Shared by the retrieval benchmarks of issue 22: the similarity variants measured through ``Memory.search``
(dense, lexical, fixed-λ hybrids, the adaptive default) and reciprocal-rank fusion of two rankings."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any


def variants(polar: Any, weights: Sequence[float]) -> list[tuple[str, dict[str, Any], str]]:
    out: list[tuple[str, dict[str, Any], str]] = [
        ("memory-dense", {"similarity": "dense"}, "Memory.search, polar.similarity = dense (the paper's)"),
        ("memory-lexical", {"similarity": "lexical"}, "Memory.search, polar.similarity = lexical (BM25 first)"),
    ]
    for lam in weights:
        out.append((f"memory-hybrid-{lam:g}", {"similarity": "hybrid", "lexical_weight": lam,
                                                "lexical_weight_specific": lam}, f"hybrid, fixed λ = {lam:g}"))
    out.append(("memory-hybrid-adaptive", {"similarity": "hybrid", "lexical_weight_specific": 0.6},
                f"hybrid, λ = {polar.lexical_weight:g} rising to 0.6 for numbers, codes, names"))
    out.append(("memory-default", {}, f"the default: polar.similarity = {polar.similarity}, λ = "
                f"{polar.lexical_weight:g} (up to {polar.lexical_weight_specific:g})"))
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


def arguments(doc: str, data: Path, out: Path) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--data", type=Path, default=data)
    ap.add_argument("--store", help="reuse an ingested store of the same corpus (default: a temp folder)")
    ap.add_argument("--weights", type=float, nargs="*", default=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8])
    ap.add_argument("--out", type=Path, default=out)
    return ap


def workdir(store: str | None, prefix: str) -> tuple[Path, str]:
    """Where the converted dataset goes, and the store: with ``--store`` the dataset lives beside it so
    that its paths (the stored sources) are the same on every run."""
    if store:
        work = Path(store).parent / (Path(store).name + "-data")
        work.mkdir(parents=True, exist_ok=True)
        return work, store
    work = Path(tempfile.mkdtemp(prefix=prefix))
    return work, str(work / "store")


def references(embedder: Any, names: Sequence[str], texts: Sequence[str], questions: Sequence[str],
               depth: int) -> dict[str, list[list[str]]]:
    """Plain baselines over ``texts`` (one per name): cosine with the memory's embedder, and BM25."""
    import numpy as np

    from vimrag.index.lexical import LexicalIndex, term_counts, tokenize

    def unit(x: Any) -> Any:
        x = np.asarray(x, dtype=np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    emb, qv = unit(embedder.embed(list(texts))), unit(embedder.embed(list(questions)))
    out: dict[str, list[list[str]]] = {"reference-dense": [[names[i] for i in np.argsort(-(emb @ v))[:depth]]
                                                           for v in qv], "reference-bm25": []}
    lex = LexicalIndex()
    lex.add([term_counts(t) for t in texts])
    for q in questions:
        r, s = lex.search(tokenize(q))
        out["reference-bm25"].append([names[i] for i in r[np.lexsort((r, -s))][:depth]])
    return out


def write(out: Path, name: str, rows: list[dict[str, Any]], meta: dict[str, Any], columns: dict[str, str],
          intro: str) -> str:
    """``out`` (JSON: benchmark, rows, meta) and ``out`` with ``.md`` (the intro and a table of ``columns``:
    row key → header); returns the Markdown."""
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": name, "rows": rows, "meta": meta}, indent=1))
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    md = f"# {name}\n\n{intro}\n\n" + "\n".join(lines) + "\n"
    out.with_suffix(".md").write_text(md)
    return md
