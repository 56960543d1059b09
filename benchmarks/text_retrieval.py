"""Why does the memory rank paragraphs below its own embedder? (issue 22, first part)

On HotpotQA-100's 1,890 passages and 100 questions, supporting-passage recall@5 of:

* ``reference``: plain cosine between the question and each passage's **file text**, embedded with the
  same MiniLM: what txtai (or any plain dense search) does. The floor the memory must not fall below.
* ``stored``: plain cosine against the vectors the memory stored (its Eq. 10 input: concept state and
  "mentions" before the text), with no logic: isolates *what text is embedded*.
* ``memory-dense``: ``Memory.search`` with a query that carries no concepts: the store's ranking of its
  own vectors (must equal ``stored``).
* ``memory``: ``Memory.search`` as users call it (the rule parser, concepts matched to the vocabulary,
  logic tiers first): adds *how the query is parsed and how text items are tiered*.

Output: ``benchmarks/results/text_retrieval.json`` and ``.md``. Run: ``python benchmarks/text_retrieval.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = ROOT.parent / "shared" / "data" / "hotpotqa-100"


def recall(ranked: list[list[str]], gold: list[set[str]], k: int) -> float:
    return float(np.mean([len(set(r[:k]) & g) / len(g) for r, g in zip(ranked, gold, strict=True) if g]))


def main() -> None:
    from vimrag import Memory
    from vimrag.config import load_config
    from vimrag.eval.datasets.hotpotqa import convert_hotpotqa
    from vimrag.index.lexical import LexicalIndex, term_counts, tokenize

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--store", help="reuse an ingested store of the same corpus (default: a temp folder)")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--weights", type=float, nargs="*", default=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/text_retrieval.json")
    args = ap.parse_args()
    # with --store, the converted dataset lives beside it so that its paths (the sources) stay the same
    work = Path(args.store).parent / (Path(args.store).name + "-data") if args.store else Path(tempfile.mkdtemp(prefix="vimrag-text-retrieval-"))
    work.mkdir(parents=True, exist_ok=True)
    ds = convert_hotpotqa(args.data, work)
    assert ds.corpus is not None
    store = args.store or str(work / "store")
    cfg = load_config(None, {"store.uri": store})
    rows: list[dict[str, Any]] = []
    with Memory(cfg) as mem:
        t0 = time.perf_counter()
        report = mem.add([ds.corpus], progress=False)
        ingest_s = time.perf_counter() - t0
        by_source: dict[str, str] = {}
        vecs, names = [], []
        for item in mem.items():
            rel = str(Path(item.source).relative_to(ds.corpus))
            by_source[item.id] = rel
            vecs.append(item.vector)
            names.append(rel)
        stored = np.asarray(vecs, dtype=np.float32)
        files = sorted({n for n in names})
        texts = [(ds.corpus / f).read_text(encoding="utf-8") for f in files]
        ref = np.asarray(mem.embedder.embed(texts), dtype=np.float32)
        ref /= np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-12)
        questions = [ex.question for ex in ds.examples]
        gold = [{e.source for e in ex.evidence} for ex in ds.examples]
        q = np.asarray(mem.embedder.embed(questions), dtype=np.float32)
        q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)

        def dedup(order: list[str]) -> list[str]:
            return list(dict.fromkeys(order))

        ref_rank = [[files[i] for i in np.argsort(-(ref @ v))[: 4 * args.k]] for v in q]
        stored_rank = [dedup([names[i] for i in np.argsort(-(stored @ v))[: 8 * args.k]]) for v in q]
        bm25_ref = LexicalIndex()
        bm25_ref.add([term_counts(t) for t in texts])
        bm25_rank = []
        for question in questions:
            r, sc = bm25_ref.search(tokenize(question))
            bm25_rank.append([files[i] for i in r[np.lexsort((r, -sc))][: 4 * args.k]])
        polar0 = mem.retriever.polar
        variants: list[tuple[str, dict[str, Any], str]] = [
            ("memory-dense", {"similarity": "dense"}, "Memory.search, polar.similarity = dense (the paper's)"),
            ("memory-lexical", {"similarity": "lexical"}, "Memory.search, polar.similarity = lexical (BM25 first)"),
        ]
        for lam in args.weights:
            variants.append((f"memory-hybrid-{lam:g}", {"similarity": "hybrid", "lexical_weight": lam,
                                                       "lexical_weight_specific": lam}, f"fixed λ = {lam:g}"))
        variants.append(("memory-hybrid-adaptive", {"similarity": "hybrid"},
                         f"the default: λ = {polar0.lexical_weight:g}, up to {polar0.lexical_weight_specific:g} "
                         "for numbers, codes, names"))
        ranked: dict[str, list[list[str]]] = {}
        tiers = []
        for name, over, _ in variants:
            mem.retriever.polar = replace(polar0, **over)
            out = []
            for question in questions:
                res = mem.search(question, k=4 * args.k)
                out.append(dedup([by_source[h.item.id] for h in res.hits]))
                if name == "memory-hybrid-adaptive":
                    tiers.append(sum(1 for h in res.hits[: args.k] if h.state.label == "verified"))
            ranked[name] = out
        mem.retriever.polar = polar0
        # reciprocal-rank fusion of the memory's dense and lexical lists (k_rrf = 60), for comparison
        rrf_rank = []
        for d, lx in zip(ranked["memory-dense"], ranked["memory-lexical"], strict=True):
            score: dict[str, float] = {}
            for lst in (d, lx):
                for i, f in enumerate(lst):
                    score[f] = score.get(f, 0.0) + 1.0 / (60 + i + 1)
            rrf_rank.append(sorted(score, key=lambda f: -score[f]))
        ranked["memory-rrf"] = rrf_rank
    whats = {n: w for n, _, w in variants}
    whats["memory-rrf"] = "reciprocal-rank fusion (k=60) of memory-dense and memory-lexical"
    for name, ranking, what in (
        ("reference", ref_rank, "plain cosine, file text (what a plain dense search does)"),
        ("reference-bm25", bm25_rank, "plain BM25 over file text (our tokenizer)"),
        ("stored", stored_rank, "plain cosine, the memory's stored vectors (Eq. 10 input)"),
        *((n, ranked[n], whats[n]) for n in ranked),
    ):
        rows.append({"method": name, f"recall_at_{args.k}": round(recall(ranking, gold, args.k), 4),
                     "recall_at_10": round(recall(ranking, gold, 10), 4), "what": what})
    meta = {"passages": len(files), "questions": len(questions), "items": len(names), "ingest_s": round(ingest_s, 1),
            "failed": len(report.failed), "verified_in_top_k_mean": round(float(np.mean(tiers)), 2),
            "embedder": cfg.models.embedder, "cpus": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "text_retrieval", "rows": rows, "meta": meta}, indent=1))
    lines = [f"| method | recall@{args.k} | recall@10 | what |", "|---|---|---|---|"]
    lines += [f"| {r['method']} | {r[f'recall_at_{args.k}']} | {r['recall_at_10']} | {r['what']} |" for r in rows]
    md = (f"# text_retrieval\n\nHotpotQA-100: {len(files)} passages, {len(questions)} questions; "
          f"supporting-passage recall. Mean verified items in the memory's top {args.k}: "
          f"{meta['verified_in_top_k_mean']}.\n\n" + "\n".join(lines) + "\n")
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
