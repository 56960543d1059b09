"""Which page answers the question? Evidence-page hit@1 / hit@5 on MMLongBench-Doc dev (issue 22).

All 21 dev PDFs are ingested with the defaults (pages, text layers, tables) into one store; each answerable
question with evidence pages is asked of the **whole** store, and a ranking counts a hit when one of its first
k distinct (document, page) pairs is an evidence page of the question. Compared: BM25 over each page's text
layer alone (``reference-bm25``), plain cosine over the same page texts with the same MiniLM
(``reference-dense``), and ``Memory.search`` under every ``polar.similarity`` (``benchmarks/_similarity.py``).

Output: ``benchmarks/results/doc_retrieval.json`` and ``.md``. Run: ``python benchmarks/doc_retrieval.py``
(ingest ≈ 15 min on 2 cores; ``--store DIR`` reuses an ingested store).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA = ROOT.parent / "shared" / "data" / "mmlongbench-doc-dev"


def hit(ranked: list[list[str]], gold: list[set[str]], k: int) -> float:
    return float(np.mean([bool(set(r[:k]) & g) for r, g in zip(ranked, gold, strict=True)]))


def main() -> None:
    import _similarity

    from vimrag import Memory
    from vimrag.config import load_config
    from vimrag.eval.datasets.mmlongbench import convert_mmlongbench
    from vimrag.index.lexical import LexicalIndex, term_counts, tokenize

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--store", help="reuse an ingested store of the same corpus (default: a temp folder)")
    ap.add_argument("--weights", type=float, nargs="*", default=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/doc_retrieval.json")
    args = ap.parse_args()
    # with --store, the converted dataset lives beside it so that its paths (the sources) stay the same
    work = Path(args.store).parent / (Path(args.store).name + "-data") if args.store else Path(tempfile.mkdtemp(prefix="vimrag-doc-retrieval-"))
    work.mkdir(parents=True, exist_ok=True)
    ds = convert_mmlongbench(args.data, work)
    assert ds.corpus is not None
    store = args.store or str(work / "store")
    cfg = load_config(None, {"store.uri": store})
    examples = [ex for ex in ds.examples if any(e.page for e in ex.evidence)]
    questions = [ex.question for ex in examples]
    gold = [{f"{e.source}|{e.page}" for e in ex.evidence if e.page} for ex in examples]
    with Memory(cfg) as mem:
        t0 = time.perf_counter()
        report = mem.add([ds.corpus], progress=True)
        ingest_s = time.perf_counter() - t0

        def key(h: Any) -> str:
            return f"{Path(h.item.source).name}|{h.item.locator.page}"

        pages: dict[str, list[str]] = {}
        for item in mem.items():
            if item.locator.page is not None and item.modality == "page":
                pages.setdefault(f"{Path(item.source).name}|{item.locator.page}", []).append(item.text)
        names = sorted(pages)
        texts = ["\n".join(pages[n]) for n in names]
        ref_bm25 = LexicalIndex()
        ref_bm25.add([term_counts(t) for t in texts])
        emb = np.asarray(mem.embedder.embed(texts), dtype=np.float32)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        qv = np.asarray(mem.embedder.embed(questions), dtype=np.float32)
        qv /= np.maximum(np.linalg.norm(qv, axis=1, keepdims=True), 1e-12)
        ranked: dict[str, list[list[str]]] = {"reference-dense": [[names[i] for i in np.argsort(-(emb @ v))[:20]]
                                                                  for v in qv]}
        ranked["reference-bm25"] = []
        for q in questions:
            r, s = ref_bm25.search(tokenize(q))
            ranked["reference-bm25"].append([names[i] for i in r[np.lexsort((r, -s))][:20]])
        t1 = time.perf_counter()
        mine, whats = _similarity.run(mem, questions, key, 20, args.weights)
        search_s = (time.perf_counter() - t1) / max(1, len(questions) * (len(mine) - 1))
    ranked.update(mine)
    whats.update({"reference-dense": "plain cosine over page text layers (same MiniLM)",
                  "reference-bm25": "plain BM25 over page text layers (our tokenizer)"})
    rows = [{"method": n, "hit_at_1": round(hit(r, gold, 1), 4), "hit_at_5": round(hit(r, gold, 5), 4),
             "what": whats[n]} for n, r in ranked.items()]
    meta = {"documents": len({n.split("|")[0] for n in names}), "pages": len(names), "questions": len(questions), "ingest_s": round(ingest_s, 1),
            "failed": len(report.failed), "search_ms": round(1000 * search_s, 2), "cpus": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "doc_retrieval", "rows": rows, "meta": meta}, indent=1))
    lines = ["| method | page hit@1 | page hit@5 | what |", "|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['hit_at_1']} | {r['hit_at_5']} | {r['what']} |" for r in rows]
    md = (f"# doc_retrieval\n\nMMLongBench-Doc dev: {meta['pages']} pages of {meta['documents']} PDFs in one store, "
          f"{len(questions)} questions with evidence pages; a hit is an evidence page among the first k distinct "
          f"(document, page) results. Search ≈ {meta['search_ms']} ms per query.\n\n" + "\n".join(lines) + "\n")
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
