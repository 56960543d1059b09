"""PolarIndex benchmark: exact lexicographic top-k on the 200k synthetic PolarMem workload, in process.

Workload (``vimrag.polar.synthetic``): 200,000 items, 384-d clustered vectors, ~10 HAS and ~8 NOT_HAS
concepts each from a 2,000-concept Zipf vocabulary; ≥ 200 mixed queries (entailed sets empty, tiny,
medium, huge; negative-only; mixed; multi-concept; several need the neutral tier).

Methods, all in this process on the same data:

* ``paper_loop`` — the paper's per-item evaluation (Python sets per item, then sort), on a subsample;
* ``numpy_masks`` — vectorised NumPy: full matmul + tier masks from posting lists + partition/lexsort;
* ``faiss_hnsw_masks`` — filtered HNSW (m=32, efC=128, ef=128) per tier with our masks, always ANN;
* ``polar_index`` — ``vimrag.polar.index.PolarIndex.search`` (exact small tiers, scaled-ef HNSW for large).

Recall@10 is measured for every method against an exact brute-force reference on every query.
Wall-clock latencies on a shared machine are noisy, so CPU time per query (``thread_time``) is reported
as well, together with the load average.

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

from vimrag.polar.index import PolarIndex, brute_force  # noqa: E402
from vimrag.polar.synthetic import SyntheticQuery, make_queries, make_store  # noqa: E402

K = 10


def paper_loop(vectors: np.ndarray, has_sets: list[set[int]], not_sets: list[set[int]], alive: np.ndarray,
               q: SyntheticQuery, k: int) -> list[int]:
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
        _, labels = idx._ann.search(q.vector[None], k - len(out),
                                    params=faiss.SearchParametersHNSW(sel=sel, efSearch=ef))
        out += [int(x) for x in labels[0] if x >= 0]
        if len(out) >= k:
            break
    return out[:k]


def _time(fn: Any) -> tuple[float, float, Any]:
    t0, c0 = time.perf_counter(), time.thread_time()
    res = fn()
    return (time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3, res


def _recall(got: list[int], ref: list[int]) -> float:
    return len(set(got) & set(ref)) / max(1, len(ref))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(n: int, n_queries: int, paper_queries: int, cache_dir: str | None, seed: int) -> dict[str, Any]:
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
        idx = PolarIndex(data.vectors.shape[1])
        t = time.perf_counter()
        idx.add(data.vectors, data.has, data.not_has)
        idx._postings()
        meta_build["add_and_postings_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        idx.build_ann()
        meta_build["hnsw_build_s"] = round(time.perf_counter() - t, 3)
        meta_build["hnsw_threads"] = os.cpu_count()
        if cache is not None:
            idx.save(cache)
            (cache / "bench.json").write_text(json.dumps(meta_build))
    faiss.omp_set_num_threads(1)
    idx.search(queries[0].vector, queries[0].pos, queries[0].neg, K)  # warm up (posting lists, dense masks)

    refs = []
    for q in queries:
        states = idx.states(q.pos, q.neg)
        refs.append(brute_force(idx.vectors, states, q.vector, K)[0].tolist())

    methods: dict[str, Any] = {
        "numpy_masks": lambda q: numpy_masks(idx, q, K),
        "faiss_hnsw_masks": lambda q: faiss_masks(idx, q, K),
        "polar_index": lambda q: idx.search(q.vector, q.pos, q.neg, K)[0].tolist(),
    }
    rows: list[dict[str, Any]] = []
    per_kind: dict[str, list[float]] = {}
    for name, fn in methods.items():
        wall, cpu, rec = [], [], []
        for q, ref in zip(queries, refs, strict=True):
            w, c, got = _time(lambda q=q, fn=fn: fn(q))
            wall.append(w)
            cpu.append(c)
            rec.append(_recall(got, ref))
            if name == "polar_index":
                per_kind.setdefault(q.kind, []).append(w)
        rows.append(_row(name, wall, cpu, rec, n))

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

    hnsw_bytes = idx._ann.ntotal * (idx.dim * 4 + idx.hnsw_m * 2 * 4 + 8) if idx._ann is not None else 0
    post = idx._postings()
    post_bytes = sum(p.rows.nbytes + p.ptr.nbytes + sum(m.nbytes for m in p.dense.values()) for p in post.values())
    meta = {
        "n_items": n,
        "dim": int(data.vectors.shape[1]),
        "n_concepts": data.n_concepts,
        "queries": len(queries),
        "paper_loop_queries": len(sub),
        "query_kinds": {k: len(v) for k, v in per_kind.items()},
        "polar_index_p50_by_kind_ms": {k: round(float(np.median(v)), 3) for k, v in per_kind.items()},
        "generate_s": round(gen_s, 2),
        **meta_build,
        "memory_mb": {
            "vectors": round(idx.vectors.nbytes / 2**20, 1),
            "postings_and_masks": round(post_bytes / 2**20, 1),
            "hnsw_est": round(hnsw_bytes / 2**20, 1),
        },
        "peak_rss_mb": round(_rss_mb(), 1),
        "loadavg_start": [round(x, 2) for x in load0],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "exact_max": idx.exact_max,
        "note": "wall-clock on a shared machine; cpu_* columns are this thread's CPU time per query",
    }
    return {"benchmark": "polar_search", "rows": rows, "meta": meta}


def _row(name: str, wall: list[float], cpu: list[float], rec: list[float], n: int) -> dict[str, Any]:
    return {
        "method": name,
        "n_items": n,
        "queries": len(wall),
        "p50_ms": round(float(np.percentile(wall, 50)), 3),
        "p95_ms": round(float(np.percentile(wall, 95)), 3),
        "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 3),
        "cpu_p95_ms": round(float(np.percentile(cpu, 95)), 3),
        "recall_at_10": round(float(np.mean(rec)), 4),
        "min_recall": round(float(np.min(rec)), 3),
    }


def _print(result: dict[str, Any]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover
        print(json.dumps(result, indent=2))
        return
    m = result["meta"]
    t = Table(title=f"PolarMem top-{K} search, {m['n_items']:,} items × {m['dim']}-d, {m['queries']} queries")
    for col in ("method", "p50 ms", "p95 ms", "cpu p50", "cpu p95", "recall@10", "speed-up vs paper"):
        t.add_column(col, justify="right" if col != "method" else "left")
    for r in result["rows"]:
        t.add_row(r["method"] + (f" ({r['queries']} q)" if r["method"] == "paper_loop" else ""),
                  f"{r['p50_ms']:.2f}", f"{r['p95_ms']:.2f}", f"{r['cpu_p50_ms']:.2f}", f"{r['cpu_p95_ms']:.2f}",
                  f"{r['recall_at_10']:.4f}", f"{r['speedup_vs_paper']}×")
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
    ap.add_argument("--out", default=str(HERE / "results" / "polar_search.json"))
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.queries = min(a.n, 20_000), min(a.queries, 70)
    result = run(a.n, a.queries, a.paper_queries, a.cache_dir, a.seed)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    _print(result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
