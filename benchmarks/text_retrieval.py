"""Why does the memory rank paragraphs below its own embedder? (issue 22, first part)

On HotpotQA-100's 1,890 passages and 100 questions, supporting-passage recall@5 of:

* ``reference-dense``: plain cosine between the question and each passage's **file text**, embedded with the
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

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA = ROOT.parent / "shared" / "data" / "hotpotqa-100"


def recall(ranked: list[list[str]], gold: list[set[str]], k: int) -> float:
    return float(np.mean([len(set(r[:k]) & g) / len(g) for r, g in zip(ranked, gold, strict=True) if g]))


def main() -> None:
    import _similarity

    from vimrag import Memory
    from vimrag.config import load_config
    from vimrag.eval.datasets.hotpotqa import convert_hotpotqa

    ap = _similarity.arguments(__doc__, DATA, ROOT / "benchmarks/results/text_retrieval.json")
    ap.add_argument("-k", type=int, default=5)
    args = ap.parse_args()
    work, store = _similarity.workdir(args.store, "vimrag-text-retrieval-")
    ds = convert_hotpotqa(args.data, work)
    assert ds.corpus is not None
    cfg = load_config(None, {"store.uri": store})
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
        files = sorted(set(names))
        texts = [(ds.corpus / f).read_text(encoding="utf-8") for f in files]
        questions = [ex.question for ex in ds.examples]
        gold = [{e.source for e in ex.evidence} for ex in ds.examples]
        ranked = _similarity.references(mem.embedder, files, texts, questions, 4 * args.k)
        q = np.asarray(mem.embedder.embed(questions), dtype=np.float32)
        q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        ranked["stored"] = [list(dict.fromkeys(names[i] for i in np.argsort(-(stored @ v))[: 8 * args.k])) for v in q]
        mine, whats = _similarity.run(mem, questions, lambda h: by_source[h.item.id], 4 * args.k, args.weights)
        tiers = [sum(1 for h in mem.search(x, k=args.k).hits if h.state.label == "verified") for x in questions]
    ranked.update(mine)
    whats.update({"reference-dense": "plain cosine, file text (what a plain dense search does)",
                  "reference-bm25": "plain BM25 over file text (our tokenizer)",
                  "stored": "plain cosine, the memory's stored vectors (Eq. 10 input)"})
    rows = [{"method": n, f"recall_at_{args.k}": round(recall(r, gold, args.k), 4),
             "recall_at_10": round(recall(r, gold, 10), 4), "what": whats[n]} for n, r in ranked.items()]
    meta = {"passages": len(files), "questions": len(questions), "items": len(names), "ingest_s": round(ingest_s, 1),
            "failed": len(report.failed), "verified_in_top_k_mean": round(float(np.mean(tiers)), 2),
            "embedder": cfg.models.embedder, "cpus": os.cpu_count()}
    md = _similarity.write(
        args.out, "text_retrieval", rows, meta,
        {"method": "method", f"recall_at_{args.k}": f"recall@{args.k}", "recall_at_10": "recall@10", "what": "what"},
        f"HotpotQA-100: {len(files)} passages, {len(questions)} questions; supporting-passage recall. Mean verified "
        f"items in the memory's top {args.k}: {meta['verified_in_top_k_mean']}.")
    print(md)


if __name__ == "__main__":
    main()
