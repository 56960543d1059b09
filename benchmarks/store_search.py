"""Store benchmark: the 200k synthetic PolarMem workload through LanceStore and PostgresStore (both searches).

Workload (``vimrag.testing.synthetic``): 200,000 items, 384-d clustered vectors, ~10 HAS and ~8 NOT_HAS
concepts each from a 2,000-concept Zipf vocabulary, 200 sources of 1,000 items; ≥ 200 mixed queries
(empty / tiny / medium / huge entailed sets, negative-only, mixed, multi-concept).

Measured per backend, each in its own process (so peak RSS is the backend's, plus the generated data):
ingest time (through ``replace_many``, including the index build), on-disk size, peak RSS, reopen time,
search p50/p95 and recall@10 against an exact NumPy reference of Algorithm 1 (states from posting lists,
full matmul, lexsort), plus the paper's per-item Python loop on a few queries for the speed-up column.

    python benchmarks/store_search.py                     # lance + postgres + postgres-sql (if VIMRAG_TEST_PG_URI)
    python benchmarks/store_search.py --n 1000000 --only postgres   # PostgresStore, in-process index (default)

``postgres`` is PostgresStore with ``polar.pg_search = "index"`` (the default: the in-process certified
PolarIndex loaded from the rows; its ``index_s`` is the first process's build from the database plus saving
it, ``reopen_s`` a second process's open and first search from the saved index); ``postgres-sql`` is
``pg_search = "sql"`` (tiers in SQL; ``index_s`` is the pgvector HNSW build).
    python benchmarks/store_search.py --quick             # 20k items
    python benchmarks/store_search.py --backend lance     # one backend (used internally)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from _stats import latency_row  # noqa: E402

from vimrag.store.base import LogicQuery, SourceRecord  # noqa: E402
from vimrag.testing.synthetic import make_queries, make_store  # noqa: E402
from vimrag.types import ConceptEvidence, Item, Modality, Polarity  # noqa: E402

PER_SOURCE = 1000
CLASS = {"lance": "lance.LanceStore", "postgres": "postgres.PostgresStore, pg_search=index",
         "postgres-sql": "postgres.PostgresStore, pg_search=sql"}
K = 10


def build_items(data: Any) -> list[tuple[SourceRecord, list[Item]]]:
    """Synthetic rows → Items grouped by source (no models involved)."""
    names = [f"c{i}" for i in range(data.n_concepts)]
    out = []
    n = len(data.vectors)
    for s0 in range(0, n, PER_SOURCE):
        src = f"synthetic/{s0 // PER_SOURCE:04d}.bin"
        items = []
        for r in range(s0, min(n, s0 + PER_SOURCE)):
            concepts = [ConceptEvidence(names[c], Polarity.HAS, 0.9) for c in data.has[r].tolist()]
            concepts += [ConceptEvidence(names[c], Polarity.NOT_HAS, 0.1) for c in data.not_has[r].tolist()]
            items.append(Item(id=f"r{r}", source=src, source_hash="h", modality=Modality.IMAGE,
                              concepts=concepts, vector=data.vectors[r]))
        out.append((SourceRecord(src, "h", len(items)), items))
    return out


class Reference:
    """Exact Algorithm 1 with vectorised posting lists: states, then lexsort by (state, sim, row)."""

    def __init__(self, data: Any) -> None:
        self.vectors = data.vectors
        self.n = len(data.vectors)
        lens_h = np.array([len(h) for h in data.has])
        lens_n = np.array([len(h) for h in data.not_has])
        self.h_rows = np.repeat(np.arange(self.n), lens_h)
        self.h_vals = np.concatenate(data.has)
        self.n_rows = np.repeat(np.arange(self.n), lens_n)
        self.n_vals = np.concatenate(data.not_has)

    def states(self, pos: tuple[int, ...], neg: tuple[int, ...]) -> np.ndarray:
        st = np.zeros(self.n, np.int64)
        st[self.h_rows[np.isin(self.h_vals, pos)]] = 1
        conflict = np.zeros(self.n, bool)
        conflict[self.n_rows[np.isin(self.n_vals, pos)]] = True
        conflict[self.h_rows[np.isin(self.h_vals, neg)]] = True
        st[conflict] = -1
        return st

    def topk(self, q: np.ndarray, pos: tuple[int, ...], neg: tuple[int, ...], k: int) -> tuple[np.ndarray, np.ndarray]:
        st = self.states(pos, neg)
        sims = self.vectors @ q
        order = np.lexsort((np.arange(self.n), -sims, -st))[:k]
        return order, st[order]


def paper_loop(data: Any, q: np.ndarray, pos: tuple[int, ...], neg: tuple[int, ...], k: int) -> list[int]:
    """The paper's per-item loop (czs-ict/PolarMem style): state and cosine item by item, then sort."""
    ps, ns = set(pos), set(neg)
    scored = []
    for r in range(len(data.vectors)):
        h, nh = set(data.has[r].tolist()), set(data.not_has[r].tolist())
        state = -1 if (ps & nh or ns & h) else (1 if ps & h else 0)
        scored.append((state, float(np.dot(data.vectors[r], q)), r))
    scored.sort(key=lambda t: (-t[0], -t[1], t[2]))
    return [t[2] for t in scored[:k]]


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_backend(backend: str, n: int, n_queries: int, seed: int, reuse: bool = False,
                ef_construction: int | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    data = make_store(n=n, seed=seed)
    queries = make_queries(data, n_queries=n_queries, seed=seed + 1)
    batches = build_items(data)
    gen_s = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tmp = Path(tempfile.mkdtemp(prefix="vimrag-bench-"))
    meta: dict[str, Any] = {"items": n, "queries": len(queries), "generate_s": round(gen_s, 2)}
    if backend == "lance":
        from vimrag.config import PolarConfig
        from vimrag.store.lance import LanceStore

        polar = PolarConfig() if ef_construction is None else PolarConfig(hnsw_ef_construction=ef_construction)
        meta["hnsw"] = {"m": polar.hnsw_m, "ef_construction": polar.hnsw_ef_construction}

        def reopen() -> Any:
            return LanceStore(tmp / "store", polar=polar)
    else:
        from vimrag.config import PolarConfig
        from vimrag.store.postgres import PostgresStore

        uri = os.environ["VIMRAG_TEST_PG_URI"]
        uri += ("&" if "?" in uri else "?") + "schema=bench_store"
        pg_polar = PolarConfig(pg_search="sql" if backend == "postgres-sql" else "index")

        def reopen() -> Any:
            return PostgresStore(uri, polar=pg_polar, auto_ann_index=False)

        s = reopen()
        if reuse and s.count() == n:
            print("reusing the bench_store schema: ingest not re-measured", file=sys.stderr)
        else:
            s.drop()
            reuse = False
        s.close()
    store = reopen()
    probe = (queries[0].vector, LogicQuery(tuple(f"c{c}" for c in queries[0].pos)))
    if not (backend != "lance" and reuse):
        meta["load_avg_before_ingest"] = round(os.getloadavg()[0], 2)
        t0, c0 = time.perf_counter(), time.process_time()
        step = 20  # sources per replace_many call (20k items)
        for i in range(0, len(batches), step):
            store.replace_many(batches[i:i + step])
        write_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        if backend == "postgres-sql":
            store.ensure_ann_index()
        elif backend == "postgres":  # a fresh process builds the in-process index from the rows, then saves it
            store.close()
            store = reopen()
            store.search(probe[0], probe[1], K)
        store.close()  # lance, postgres: persists the PolarIndex
        index_s = time.perf_counter() - t1
        meta["ingest_cpu_s"] = round(time.process_time() - c0, 2)
        meta["load_avg_after_ingest"] = round(os.getloadavg()[0], 2)
        meta["ingest_s"] = round(write_s + index_s, 2)
        meta["write_s"], meta["index_s"] = round(write_s, 2), round(index_s, 2)
    else:
        store.close()
    t0 = time.perf_counter()
    store = reopen()
    assert store.count() == n
    if backend == "postgres":  # its index is loaded by the first search
        store.search(probe[0], probe[1], K)
    meta["reopen_s"] = round(time.perf_counter() - t0, 3)
    if backend == "lance":
        meta["disk_mb"] = round(dir_size(tmp / "store") / 2**20, 1)
    else:
        row = store._x("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace s "
                       "ON s.oid = c.relnamespace WHERE s.nspname = %s AND c.relkind = 'r'",
                       (store.schema,)).fetchone()
        meta["disk_mb"] = round(int(row[0]) / 2**20, 1)
        if backend == "postgres":  # the in-process index saved on this machine (the user cache)
            meta["index_cache_mb"] = round(dir_size(store._index.folder) / 2**20, 1)
    ref = Reference(data)
    # References first: the full-matrix NumPy reference flushes the caches and leaves BLAS threads
    # spinning, which would be charged to the store's next search if it ran between timed searches.
    wanted = [ref.topk(q.vector, q.pos, q.neg, K) for q in queries]
    lat, recalls, state_ok, per_kind = [], [], 0, {}
    for q in queries:  # warm-up pass: steady-state latencies (page cache, shared buffers, loaded index)
        store.search(q.vector, LogicQuery(tuple(f"c{c}" for c in q.pos), tuple(f"c{c}" for c in q.neg)), K)
    results, cpu = [], []
    meta["load_avg_before_search"] = round(os.getloadavg()[0], 2)
    for q in queries:
        lq = LogicQuery(tuple(f"c{c}" for c in q.pos), tuple(f"c{c}" for c in q.neg))
        t0, c0 = time.perf_counter(), time.process_time()
        hits = store.search(q.vector, lq, K)
        lat.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        results.append(hits)
    for q, hits, dt, (want_rows, want_states) in zip(queries, results, lat, wanted, strict=True):
        got = [int(h.id[1:]) for h in hits]
        rec = len(set(got) & set(want_rows.tolist())) / max(1, len(want_rows))
        state_ok += [int(h.state) for h in hits] == want_states.tolist()
        recalls.append(rec)
        per_kind.setdefault(q.kind, []).append((dt, rec))
    meta["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    meta["rss_after_generate_mb"] = round(rss_before, 1)
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    row = {
        "method": f"{backend} store (vimrag.store.{CLASS[backend]})",
        **latency_row(lat, cpu, recalls),
        "states_exact": state_ok / len(queries),
        **meta,
        "per_kind": {k: {"p50_ms": round(float(np.percentile([d for d, _ in v], 50)), 3),
                         "recall": round(float(np.mean([r for _, r in v])), 4)} for k, v in per_kind.items()},
    }
    if backend == "lance":  # the paper's loop, on a few queries (≈ 1 s each at 200k)
        ts = []
        for q in queries[:3]:
            t0 = time.perf_counter()
            paper_loop(data, q.vector, q.pos, q.neg, K)
            ts.append((time.perf_counter() - t0) * 1000)
        row["paper_loop_p50_ms"] = round(float(np.median(ts)), 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=list(CLASS))
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=210)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated backends (lance,postgres,postgres-sql)")
    ap.add_argument("--reuse", action="store_true", help="postgres: keep an already loaded bench schema")
    ap.add_argument("--hnsw-ef-construction", type=int, default=None,
                    help="lance: PolarConfig.hnsw_ef_construction for this run (default: the config's)")
    ap.add_argument("--out", default=str(HERE / "results" / "store_search.json"))
    args = ap.parse_args()
    n = 20_000 if args.quick else args.n
    if args.backend:
        print(json.dumps(run_backend(args.backend, n, args.queries, args.seed, args.reuse,
                                     args.hnsw_ef_construction)))
        return
    backends = ["lance"] + (["postgres", "postgres-sql"] if os.environ.get("VIMRAG_TEST_PG_URI") else [])
    if args.only:
        backends = [b for b in backends if b in args.only.split(",")]
    rows = []
    for b in backends:
        cmd = [sys.executable, __file__, "--backend", b, "--n", str(n), "--queries", str(args.queries),
               "--seed", str(args.seed)] + (["--reuse"] if args.reuse else [])
        if args.hnsw_ef_construction is not None:
            cmd += ["--hnsw-ef-construction", str(args.hnsw_ef_construction)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stderr[-3000:], file=sys.stderr)
            rows.append({"method": f"{b} store", "error": p.stderr.strip().splitlines()[-1:]})
            continue
        rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
    if args.reuse and Path(args.out).is_file():  # keep the ingest figures of the run that loaded the schema
        old = {r.get("method"): r for r in json.loads(Path(args.out).read_text()).get("rows", [])}
        for r in rows:
            prev = old.get(r.get("method"), {})
            if "ingest_s" not in r and "ingest_s" in prev:
                r.update({k: prev[k] for k in ("ingest_s", "write_s", "index_s") if k in prev})
                r["ingest_from_previous_run"] = True
    if args.only and Path(args.out).is_file():  # keep the rows of the backends not run this time
        ran = {r.get("method", "").split(" ")[0] for r in rows}
        for r in json.loads(Path(args.out).read_text()).get("rows", []):
            kind = r.get("method", "").split(" ")[0]
            if kind in CLASS and kind not in ran:
                rows.append({**r, "from_previous_run": True})
    loop = next((r.get("paper_loop_p50_ms") for r in rows if r.get("paper_loop_p50_ms")), None)
    for r in rows:
        if loop and r.get("p50_ms"):
            r["speedup_vs_paper_loop"] = round(loop / r["p50_ms"], 1)
    if loop:
        rows.append({"method": "paper per-item Python loop (3 queries)", "p50_ms": loop, "recall_at_10": 1.0})
    out = {"benchmark": "store_search", "rows": rows,
           "meta": {"items": n, "queries": args.queries, "k": K, "cpu_count": os.cpu_count(),
                    "note": "ingest_s = replace_many writes + index build/persist; disk = store folder "
                            "(lance) or schema relations incl. indexes (postgres); cpu_* = process CPU time; "
                            "from_previous_run rows were not re-measured in this run"}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print("| method | p50 ms | p95 ms | recall@10 | speed-up vs loop | ingest s | disk MB | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r.get('p50_ms', '-')} | {r.get('p95_ms', '-')} | {r.get('recall_at_10', '-')} | "
              f"{r.get('speedup_vs_paper_loop', '-')} | {r.get('ingest_s', '-')} | {r.get('disk_mb', '-')} | "
              f"{r.get('peak_rss_mb', '-')} |")


if __name__ == "__main__":
    main()
