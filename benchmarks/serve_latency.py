"""``vimrag serve`` under load: search latency through HTTP at 1, 4 and 16 concurrent clients against the
same searches in process, and question throughput with the bounded line (one model, ``server.ask_queue``).

The store is the demo corpus (assembled and ingested into a temporary folder) unless ``--store`` names
one. The server is the real CLI (``vimrag serve``) on a free loopback port; clients are threads with
their own ``httpx.Client`` (keep-alive). Questions use the rag method and the 0.5B GGUF (``--llm``).

Output: ``benchmarks/results/serve_latency.json`` (``{"benchmark": "serve_latency", "rows": [...],
"meta": {...}}``) and ``serve_latency.md``. Run: ``python benchmarks/serve_latency.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QUERIES = [
    "a photo with a cat", "a photo with a person but no cat", "a cup of coffee", "a rocket on the launch pad",
    "who leads project falcon", "the budget of project falcon", "quarterly revenue", "a bar chart",
    "a table of regional sales", "a rabbit in a meadow", "the harbour bus timetable", "a photo with no person",
    "an astronaut in a suit", "which bus goes to the depot", "a photo of food but no cat", "licence of the photos",
]
QUESTIONS = ["Who leads Project Falcon?", "What is the cat doing?", "Which quarter had the highest revenue?",
             "What is in the coffee cup photo?", "Which bus goes to the depot?", "What is the rocket standing on?"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)), 2) if xs else float("nan")


def _http_search(url: str, clients: int, per_client: int) -> dict[str, Any]:
    lat: list[float] = []
    lock = threading.Lock()
    errors = 0

    def work(i: int) -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=60) as c:
            for j in range(per_client):
                q = QUERIES[(i * 7 + j) % len(QUERIES)]
                t0 = time.perf_counter()
                r = c.post("/search", json={"query": q, "k": 10})
                dt = (time.perf_counter() - t0) * 1000
                with lock:
                    if r.status_code == 200:
                        lat.append(dt)
                    else:
                        errors += 1

    wall = _run_threads(work, clients)
    return {"mode": "http", "clients": clients, "requests": len(lat), "errors": errors, "p50_ms": _pct(lat, 50),
            "p95_ms": _pct(lat, 95), "rps": round(len(lat) / wall, 1)}


def _run_threads(work: Any, n: int) -> float:
    """Run ``work(i)`` for i < n on n threads at once; the wall time in seconds."""
    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def _in_process(store: str, n: int) -> dict[str, Any]:
    from vimrag import Memory
    from vimrag.config import load_config

    with Memory(load_config(None, {"store.uri": store})) as mem:
        mem.search("warm up", k=10)
        lat = []
        for i in range(n):
            t0 = time.perf_counter()
            mem.search(QUERIES[i % len(QUERIES)], k=10)
            lat.append((time.perf_counter() - t0) * 1000)
    return {"mode": "in-process", "clients": 1, "requests": n, "errors": 0, "p50_ms": _pct(lat, 50),
            "p95_ms": _pct(lat, 95), "rps": round(1000 * n / sum(lat), 1)}


def _ask_burst(url: str, n: int) -> dict[str, Any]:
    """``n`` questions at once: one holds the model, ``ask_queue`` wait, the rest are refused with 429."""
    results: list[tuple[int, float, str]] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        t0 = time.perf_counter()
        with httpx.Client(base_url=url, timeout=900) as c:
            r = c.post("/ask", json={"question": QUESTIONS[i % len(QUESTIONS)], "method": "rag"})
        with lock:
            results.append((r.status_code, time.perf_counter() - t0, r.headers.get("retry-after", "")))

    wall = _run_threads(work, n)
    ok = [s for code, s, _ in results if code == 200]
    refused = [s for code, s, _ in results if code == 429]
    return {"mode": "ask", "clients": n, "requests": len(ok), "errors": len(results) - len(ok) - len(refused),
            "refused_429": len(refused), "refused_max_ms": round(1000 * max(refused), 1) if refused else None,
            "answer_p50_s": _pct(ok, 50), "answer_max_s": _pct(ok, 100),
            "questions_per_min": round(60 * len(ok) / wall, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="an existing store (default: the demo corpus, ingested into a temp folder)")
    ap.add_argument("--llm", default="llamacpp:qwen2.5-coder-0.5b")
    ap.add_argument("--quick", action="store_true", help="fewer requests, no question burst")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serve_latency.json")
    args = ap.parse_args()
    per_client = 10 if args.quick else 40
    tmp = Path(tempfile.mkdtemp(prefix="vimrag-serve-bench-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    store = args.store
    if store is None:
        from vimrag.demo.corpus import assemble

        assemble(tmp / "corpus")
        store = str(tmp / "store")
        subprocess.run([sys.executable, "-m", "vimrag", "ingest", str(tmp / "corpus"), "--store", store, "--json"],
                       check=True, capture_output=True, env=env)
    rows = [_in_process(store, per_client * 4)]
    port = _free_port()
    sets = [f"store.uri={store}", f"models.llm={args.llm}", "models.n_ctx=4096", "server.ask_queue=4",
            f"agent.trajectories_dir={tmp / 'trajectories'}"]
    cmd = [sys.executable, "-m", "vimrag", *[a for s in sets for a in ("--set", s)], "serve", "--port", str(port)]
    t_start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        health_s = time.perf_counter() - t_start
        _http_search(url, 1, 3)  # the first search waits for the embedder the server loads in the background
        for clients in (1, 4, 16):
            rows.append(_http_search(url, clients, per_client))
        if not args.quick:
            rows.append(_ask_burst(url, 8))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    meta = {"store": store, "llm": args.llm, "cpus": os.cpu_count(), "health_after_start_s": round(health_s, 2),
            "queries": len(QUERIES), "per_client": per_client, "ask_queue": 4,
            "load_avg": os.getloadavg()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "serve_latency", "rows": rows, "meta": meta}, indent=1))
    lines = ["| mode | clients | requests | p50 ms | p95 ms | req/s | notes |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["mode"] == "ask":
            lines.append(f"| ask (rag, {args.llm}) | {r['clients']} | {r['requests']} answered | "
                         f"{1000 * r['answer_p50_s']:.0f} | {1000 * r['answer_max_s']:.0f} (max) | "
                         f"{r['questions_per_min']}/min | {r['refused_429']} refused with 429 in ≤ {r['refused_max_ms']} ms |")
        else:
            lines.append(f"| {r['mode']} search | {r['clients']} | {r['requests']} | {r['p50_ms']} | {r['p95_ms']} | "
                         f"{r['rps']} | {r['errors']} errors |")
    table = "\n".join(lines)
    md = (f"# serve_latency\n\n`/health` answered {health_s:.2f} s after `vimrag serve` started; "
          f"{os.cpu_count()} CPUs.\n\n{table}\n")
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
