"""PolarIndex benchmark: exact lexicographic top-k on the 200k synthetic PolarMem workload, in process.

Workload (``vimrag.testing.synthetic``): 200,000 items, 384-d clustered vectors, ~10 HAS and ~8 NOT_HAS
concepts each from a 2,000-concept Zipf vocabulary; ≥ 200 mixed queries (entailed sets empty, tiny,
medium, huge; negative-only; mixed; multi-concept; several need the neutral tier).

Methods, all in this process on the same data:

* ``paper_loop`` — the paper's per-item evaluation (Python sets per item, then sort), on a subsample;
* ``numpy_masks`` — vectorised NumPy: full matmul + tier masks from posting lists + partition/lexsort;
* ``faiss_hnsw_masks`` — filtered HNSW (m=32, efC=128, ef=128) per tier with our masks, always ANN;
* ``hnsw_uncertified`` — the previous PolarIndex plan: exact small tiers, scaled-ef filtered HNSW answers
  large tiers on its own (fast, recall only empirical);
* ``polar_index`` — ``vimrag.index.PolarIndex.search``: exact small tiers; large tiers take HNSW
  candidates and are then *certified* by the projection bound (exact by construction).

The index is fed in batches of 20,000 rows, as LanceStore does (the graph and projection are built once
50k rows are in and extended by later batches). Recall@10 is measured for every method against an exact
brute-force reference on every query ("exact_order" also checks the order, ties by row id). Wall-clock
latencies on a shared machine are noisy, so CPU time per query (``process_time``, all threads of this
process) is reported as well, together with the load average.

    python benchmarks/polar_search.py                 # 200k items, 210 queries
    python benchmarks/polar_search.py --quick         # 20k items, 70 queries
    python benchmarks/polar_search.py --cache-dir /tmp/polar200k   # reuse the built index between runs
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from _stats import latency_row  # noqa: E402

from vimrag.index import PolarIndex  # noqa: E402
from vimrag.index.fusion import search_fused  # noqa: E402
from vimrag.index.lexical import LexicalIndex  # noqa: E402
from vimrag.testing import brute_force, brute_force_fused  # noqa: E402
from vimrag.testing.synthetic import (  # noqa: E402
    SyntheticQuery,
    make_documents,
    make_queries,
    make_store,
    text_query_terms,
)

HYBRID_WEIGHT = 0.3  # polar.lexical_weight's default

K = 10


def paper_loop(
    vectors: np.ndarray,
    has_sets: list[set[int]],
    not_sets: list[set[int]],
    alive: np.ndarray,
    q: SyntheticQuery,
    k: int,
) -> list[int]:
    """Algorithm 1 item by item, as in the released code (per-item logic in Python, then sort)."""
    pos, neg = set(q.pos), set(q.neg)
    scored = []
    for i in range(len(vectors)):
        if not alive[i]:
            continue
        h, n = has_sets[i], not_sets[i]
        state = -1 if (pos & n or neg & h) else (1 if pos & h else 0)
        scored.append((state, float(np.dot(vectors[i], q.vector)), -i))
    return [-t[2] for t in heapq.nlargest(k, scored)]


def numpy_masks(idx: PolarIndex, q: SyntheticQuery, k: int) -> list[int]:
    v, u, c = idx.tier_masks(q.pos, q.neg)
    sims = idx.vectors @ q.vector
    key = np.where(v, 4.0, np.where(u, 2.0, np.where(c, 0.0, -np.inf))) + sims
    top = np.argpartition(-key, k - 1)[:k]
    return top[np.argsort(-key[top], kind="stable")].tolist()


def faiss_masks(idx: PolarIndex, q: SyntheticQuery, k: int, ef: int = 128) -> list[int]:
    import faiss

    out: list[int] = []
    for mask in idx.tier_masks(q.pos, q.neg):
        if not mask.any():
            continue
        bitmap = np.packbits(mask, bitorder="little")
        sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        _, labels = idx._ann.search(
            q.vector[None], k - len(out), params=faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
        )
        out += [int(x) for x in labels[0] if x >= 0]
        if len(out) >= k:
            break
    return out[:k]


def _time(fn: Any) -> tuple[float, float, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    res = fn()
    return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3, res


def _recall(got: list[int], ref: list[int]) -> float:
    return len(set(got) & set(ref)) / max(1, len(ref))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(
    n: int, n_queries: int, paper_queries: int, cache_dir: str | None, seed: int, batch: int = 20_000
) -> dict[str, Any]:
    import faiss

    load0 = os.getloadavg()
    t = time.perf_counter()
    data = make_store(n=n, seed=seed)
    gen_s = time.perf_counter() - t
    queries = make_queries(data, n_queries, seed=seed + 1)
    meta_build: dict[str, Any] = {}
    cache = Path(cache_dir) if cache_dir else None
    if cache is not None and (cache / "meta.json").exists() and (cache / "bench.json").exists():
        t = time.perf_counter()
        idx = PolarIndex.load(cache)
        meta_build = json.loads((cache / "bench.json").read_text())
        meta_build["load_s"] = round(time.perf_counter() - t, 3)
        if idx.n_rows != n:
            raise SystemExit(f"{cache} holds {idx.n_rows} rows, not {n}: use another --cache-dir")
    else:
        idx = PolarIndex(data.vectors.shape[1], ann_min_rows=min(50_000, n // 2))
        t = time.perf_counter()
        for a in range(0, n, batch):  # like LanceStore: batches of 20k rows; the graph is built at 50k
            idx.add(data.vectors[a : a + batch], data.has[a : a + batch], data.not_has[a : a + batch])
        idx._postings()
        meta_build["add_batched_s"] = round(time.perf_counter() - t, 3)
        meta_build["add_batch_rows"] = batch
        meta_build["hnsw_threads"] = os.cpu_count()
        if cache is not None:
            t = time.perf_counter()
            idx.save(cache)
            meta_build["save_s"] = round(time.perf_counter() - t, 3)
            (cache / "bench.json").write_text(json.dumps(meta_build))
    if cache is not None and cache.exists():
        files = {f.name: f.stat().st_size for f in cache.iterdir() if f.is_file()}
        meta_build["disk_mb"] = round(sum(files.values()) / 2**20, 1)
        meta_build["disk_mb_by_file"] = {k: round(v / 2**20, 1) for k, v in sorted(files.items())}
    # The lexical channel (issue 22): synthetic texts of ~60 words per item, BM25 over them.
    t = time.perf_counter()
    docs = make_documents(data)
    meta_build["documents_generate_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    lex = LexicalIndex()
    for a in range(0, n, batch):
        lex.add(docs[a : a + batch])
    meta_build["lexical_add_s"] = round(time.perf_counter() - t, 2)
    meta_build["lexical_postings"] = int(sum(len(d[0]) for d in docs))
    del docs
    text_terms = [text_query_terms(data, q) for q in queries]
    faiss.omp_set_num_threads(1)
    t = time.perf_counter()
    meta_build["int8_bound_blocks"] = idx.prepare()  # else built after a few large-tier queries
    meta_build["int8_prepare_s"] = round(time.perf_counter() - t, 3)
    for q in queries[:14]:  # warm up (posting lists, dense masks, page cache)
        idx.search(q.vector, q.pos, q.neg, K)

    refs, hybrid_refs = [], []
    for q, terms in zip(queries, text_terms, strict=True):
        states = idx.states(q.pos, q.neg)
        refs.append(brute_force(idx.vectors, states, q.vector, K)[0].tolist())
        lrows, lscores = lex.search(terms)
        per_row = np.zeros(n)
        per_row[lrows] = lscores
        hybrid_refs.append(brute_force_fused(idx.vectors, states, q.vector, per_row, HYBRID_WEIGHT, K)[0].tolist())

    def hybrid(q: SyntheticQuery, terms: tuple[str, ...]) -> list[int]:
        lrows, lscores = lex.search(terms)
        return search_fused(idx, q.vector, q.pos, q.neg, K, lrows, lscores, HYBRID_WEIGHT)[0].tolist()

    def uncertified(q: SyntheticQuery) -> list[int]:
        idx._certified = idx._ann_search  # the previous plan: the graph's answer is final
        try:
            return idx.search(q.vector, q.pos, q.neg, K)[0].tolist()
        finally:
            del idx._certified

    methods: dict[str, Any] = {
        "numpy_masks": lambda q: numpy_masks(idx, q, K),
        "faiss_hnsw_masks": lambda q: faiss_masks(idx, q, K),
        "hnsw_uncertified": uncertified,
        "polar_index": lambda q: idx.search(q.vector, q.pos, q.neg, K)[0].tolist(),
    }
    rows: list[dict[str, Any]] = []
    per_kind: dict[str, list[tuple[float, float, int, int]]] = {}
    order_ok: dict[str, int] = {}
    for name, fn in methods.items():
        wall, cpu, rec = [], [], []
        order_ok[name] = 0
        for q, ref in zip(queries, refs, strict=True):
            w, c, got = _time(lambda q=q, fn=fn: fn(q))
            wall.append(w)
            cpu.append(c)
            rec.append(_recall(got, ref))
            order_ok[name] += got == ref
            if name == "polar_index":
                s_ = idx.last_stats
                per_kind.setdefault(q.kind, []).append((w, c, s_.get("tier", 0), s_.get("scored", 0)))
        rows.append(_row(name, wall, cpu, rec, n))
        rows[-1]["exact_order"] = round(order_ok[name] / len(queries), 4)
    # hybrid: BM25 of the query words + the fused order inside the tiers, against the fused brute force
    wall, cpu, rec = [], [], []
    ok = 0
    for q, terms, ref in zip(queries, text_terms, hybrid_refs, strict=True):
        w, c, got = _time(lambda q=q, terms=terms: hybrid(q, terms))
        wall.append(w)
        cpu.append(c)
        rec.append(_recall(got, ref))
        ok += got == ref
    rows.append(_row("polar_index_hybrid", wall, cpu, rec, n))
    rows[-1]["exact_order"] = round(ok / len(queries), 4)

    # The paper's loop on a subsample (≈1 s per query).
    has_sets = [set(h.tolist()) for h in data.has]
    not_sets = [set(x.tolist()) for x in data.not_has]
    alive = np.ones(n, dtype=bool)
    sub = [(q, r) for q, r in zip(queries, refs, strict=True)][: max(1, paper_queries)]
    wall, cpu, rec = [], [], []
    for q, ref in sub:
        w, c, got = _time(lambda q=q: paper_loop(data.vectors, has_sets, not_sets, alive, q, K))
        wall.append(w)
        cpu.append(c)
        rec.append(_recall(got, ref))
    rows.insert(0, _row("paper_loop", wall, cpu, rec, n))
    base = rows[0]["p50_ms"]
    for r in rows:
        r["speedup_vs_paper"] = round(base / r["p50_ms"], 1) if r["p50_ms"] else None

    hnsw_bytes = idx._ann.ntotal * (idx.hnsw_m * 2 * 4 + 8) if idx._ann is not None else 0  # links + ids
    post = idx._postings()
    post_bytes = sum(
        p.rows.nbytes + p.ptr.nbytes + sum(m.nbytes for m in p.dense.values()) for p in post.values()
    )
    meta = {
        "n_items": n,
        "dim": int(data.vectors.shape[1]),
        "n_concepts": data.n_concepts,
        "queries": len(queries),
        "paper_loop_queries": len(sub),
        "query_kinds": {k: len(v) for k, v in per_kind.items()},
        "polar_index_by_kind_p50": {
            k: {
                "wall_ms": round(float(np.median([x[0] for x in v])), 3),
                "cpu_ms": round(float(np.median([x[1] for x in v])), 3),
                "last_tier_rows": int(np.median([x[2] for x in v])),
                "scored_rows": int(np.median([x[3] for x in v])),
            }
            for k, v in per_kind.items()
        },
        "generate_s": round(gen_s, 2),
        **meta_build,
        "memory_mb": {
            "vectors": round(idx.vectors.nbytes / 2**20, 1),
            "postings_and_masks": round(post_bytes / 2**20, 1),
            "hnsw_links_est": round(hnsw_bytes / 2**20, 1),
            "hnsw_flat_storage": round(idx._ann.ntotal * idx.dim * 4 / 2**20, 1)
            if idx._ann is not None
            else 0,
            "projection": round((idx._proj.nbytes + idx._res.nbytes) / 2**20, 1),
        },
        "peak_rss_mb": round(_rss_mb(), 1),
        "loadavg_start": [round(x, 2) for x in load0],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor(),
        },
        "exact_max": idx.exact_max,
        "bound_dims": idx.bound_dims,
        "note": "wall-clock on a shared machine; cpu_* columns are this process's CPU time per query",
    }
    return {"benchmark": "polar_search", "rows": rows, "meta": meta}


def _row(name: str, wall: list[float], cpu: list[float], rec: list[float], n: int) -> dict[str, Any]:
    return {"method": name, "n_items": n, "queries": len(wall), **latency_row(wall, cpu, rec)}


def _print(result: dict[str, Any]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        print(json.dumps(result, indent=2))
        return
    m = result["meta"]
    t = Table(title=f"PolarMem top-{K} search, {m['n_items']:,} items × {m['dim']}-d, {m['queries']} queries")
    for col in (
        "method",
        "p50 ms",
        "p95 ms",
        "cpu p50",
        "cpu p95",
        "recall@10",
        "exact order",
        "speed-up vs paper",
    ):
        t.add_column(col, justify="right" if col != "method" else "left")
    for r in result["rows"]:
        t.add_row(
            r["method"] + (f" ({r['queries']} q)" if r["method"] == "paper_loop" else ""),
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            f"{r['cpu_p50_ms']:.2f}",
            f"{r['cpu_p95_ms']:.2f}",
            f"{r['recall_at_10']:.4f}",
            str(r.get("exact_order", "")),
            f"{r['speedup_vs_paper']}×",
        )
    c = Console()
    c.print(t)
    c.print({k: m[k] for k in m if k not in ("machine", "note")})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=210)
    ap.add_argument("--paper-queries", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="20k items, 70 queries")
    ap.add_argument("--cache-dir", default=None, help="save/load the built index here (skips the HNSW build)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=20_000, help="rows per add() call (LanceStore uses 20k)")
    ap.add_argument("--out", default=str(HERE / "results" / "polar_search.json"))
    ap.add_argument("--also", type=int, nargs="*", default=[], help="more corpus sizes in the same run/file")
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.queries = min(a.n, 20_000), min(a.queries, 70)
    result = run(a.n, a.queries, a.paper_queries, a.cache_dir, a.seed, a.batch)
    for extra in a.also:  # one curve per method across corpus sizes (the report's latency-vs-size plot)
        more = run(extra, a.queries, a.paper_queries, None, a.seed, a.batch)
        result["rows"] += more["rows"]
        result.setdefault("meta", {})[f"meta_n{extra}"] = more.get("meta")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    _print(result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
