"""Which page answers the question? Evidence-page hit@1 / hit@5 on MMLongBench-Doc dev (issue 22).

All 21 dev PDFs are ingested with the defaults (pages, text layers, tables, figures) into one store; each answerable
question with evidence pages is asked of the **whole** store, and a ranking counts a hit when one of its first
k distinct (document, page) pairs is an evidence page of the question. Compared: BM25 over each page's text
layer alone (``reference-bm25``), plain cosine over the same page texts with the same MiniLM
(``reference-dense``), and ``Memory.search`` under every ``polar.similarity`` (``benchmarks/_similarity.py``);
per evidence source (MMLongBench's labels: text, layout, table, chart, figure) for the default, for the
default without the figure items (issue 15), and for BM25; page recall@10 beside hit@1 / hit@5.

Output: ``benchmarks/results/doc_retrieval.json`` and ``.md``. Run: ``python benchmarks/doc_retrieval.py``
(ingest ≈ 15 min on 2 cores; ``--store DIR`` reuses an ingested store).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA = ROOT.parent / "shared" / "data" / "mmlongbench-doc-dev"


def hit(ranked: list[list[str]], gold: list[set[str]], k: int) -> float:
    return float(np.mean([bool(set(r[:k]) & g) for r, g in zip(ranked, gold, strict=True)]))


def recall(ranked: list[list[str]], gold: list[set[str]], k: int) -> float:
    """Share of a question's evidence pages among its first k results, averaged over questions."""
    return float(np.mean([len(set(r[:k]) & g) / len(g) for r, g in zip(ranked, gold, strict=True)]))


def main() -> None:
    import _similarity

    from vimrag import Memory
    from vimrag.config import load_config
    from vimrag.eval.datasets.mmlongbench import convert_mmlongbench

    args = _similarity.arguments(__doc__, DATA, ROOT / "benchmarks/results/doc_retrieval.json").parse_args()
    work, store = _similarity.workdir(args.store, "vimrag-doc-retrieval-")
    ds = convert_mmlongbench(args.data, work)
    assert ds.corpus is not None
    cfg = load_config(None, {"store.uri": store})
    examples = [ex for ex in ds.examples if any(e.page for e in ex.evidence)]
    questions = [ex.question for ex in examples]
    gold = [{f"{e.source}|{e.page}" for e in ex.evidence if e.page} for ex in examples]
    with Memory(cfg) as mem:
        t0 = time.perf_counter()
        report = mem.add([ds.corpus], progress=True)
        ingest_s = time.perf_counter() - t0
        pages: dict[str, list[str]] = {}
        for item in mem.items():
            if item.locator.page is not None and item.modality == "page":
                pages.setdefault(f"{Path(item.source).name}|{item.locator.page}", []).append(item.text)
        names = sorted(pages)
        ranked = _similarity.references(mem.embedder, names, ["\n".join(pages[n]) for n in names], questions, 20)
        t1 = time.perf_counter()
        mine, whats = _similarity.run(mem, questions, lambda h: f"{Path(h.item.source).name}|{h.item.locator.page}",
                                      20, args.weights)
        search_s = (time.perf_counter() - t1) / max(1, len(questions) * (len(mine) - 1))
        # issue 15: what the figure items add — the default ranking with them dropped from each hit list
        # (an approximation of the store without them: their words also count in BM25's statistics)
        mine["memory-default-without-figures"] = [
            list(dict.fromkeys(f"{Path(h.item.source).name}|{h.item.locator.page}"
                               for h in mem.search(q, k=40).hits if h.item.meta.get("kind") != "figure"))[:20]
            for q in questions]
        whats["memory-default-without-figures"] = "the default, figure items left out of the ranking"
        n_figures = sum(1 for item in mem.items() if item.meta.get("kind") == "figure")
        n_tables = sum(1 for item in mem.items() if item.meta.get("kind") == "table")
    ranked.update(mine)
    whats.update({"reference-dense": "plain cosine over page text layers (same MiniLM)",
                  "reference-bm25": "plain BM25 over page text layers (our tokenizer)"})
    rows = [{"method": n, "hit_at_1": round(hit(r, gold, 1), 4), "hit_at_5": round(hit(r, gold, 5), 4),
             "what": whats[n]} for n, r in ranked.items()]
    for name in ("memory-default", "memory-default-without-figures", "reference-bm25"):
        for source in sorted({s for ex in examples for s in ex.meta.get("evidence_sources", [])}):
            idx = [i for i, ex in enumerate(examples) if source in ex.meta.get("evidence_sources", [])]
            sub_r, sub_g = [ranked[name][i] for i in idx], [gold[i] for i in idx]
            rows.append({"method": f"{name} · {source} ({len(idx)})", "hit_at_1": round(hit(sub_r, sub_g, 1), 4),
                         "hit_at_5": round(hit(sub_r, sub_g, 5), 4), "recall_at_10": round(recall(sub_r, sub_g, 10), 4),
                         "what": f"questions whose evidence includes {source}"})
    for r in rows:
        if "recall_at_10" not in r:
            r["recall_at_10"] = round(recall(ranked[r["method"]], gold, 10), 4)
    meta = {"documents": len({n.split("|")[0] for n in names}), "pages": len(names), "questions": len(questions), "ingest_s": round(ingest_s, 1),
            "failed": len(report.failed), "search_ms": round(1000 * search_s, 2), "cpus": os.cpu_count(),
            "figure_items": n_figures, "table_items": n_tables}
    md = _similarity.write(
        args.out, "doc_retrieval", rows, meta,
        {"method": "method", "hit_at_1": "page hit@1", "hit_at_5": "page hit@5", "recall_at_10": "page recall@10",
         "what": "what"},
        f"MMLongBench-Doc dev: {meta['pages']} pages of {meta['documents']} PDFs in one store, {len(questions)} "
        "questions with evidence pages; a hit is an evidence page among the first k distinct (document, page) "
        f"results. Search ≈ {meta['search_ms']} ms per query.")
    print(md)


if __name__ == "__main__":
    main()
