"""First contact (issue 19): wall time, CPU time and peak memory of one CLI command in a fresh process.

Each command runs as its own process (what a user's shell does), ``--repeat`` times; the table gives the
median wall and CPU seconds and the largest peak RSS (GNU ``/usr/bin/time``'s %M when present, else the
children's ``getrusage``). Commands: ``vimrag --help``; ``vimrag search`` on the demo store and on a
200,000-item synthetic LanceStore (``benchmarks/store_search.py``'s workload, built once into
``--synthetic-dir``); ``vimrag ask --method rag`` on the demo store (loads the default LLM).

    python benchmarks/cold_start.py --demo-store .vimrag-demo
    python benchmarks/cold_start.py --demo-store .vimrag-demo --synthetic-dir /tmp/cold200k --skip-ask
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
VIMRAG = str(Path(sys.executable).with_name("vimrag"))
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").is_file() else None


def measure(cmd: list[str]) -> dict[str, float]:
    """One fresh process: wall and CPU seconds, peak RSS in MB; a failing command stops the benchmark."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [GNU_TIME, "-o", tf.name, "-f", "%U %S %M", *cmd] if GNU_TIME else cmd
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(full, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        if GNU_TIME:
            user, sys_s, rss_kb = tf.read().split()[-3:]
            return {"wall_s": wall, "cpu_s": float(user) + float(sys_s), "peak_rss_mb": int(rss_kb) / 1024}
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": after.ru_maxrss / 1024}


def row(name: str, cmd: list[str], repeat: int) -> dict[str, Any]:
    runs = [measure(cmd) for _ in range(repeat)]
    out = {
        "command": name,
        "wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
        "wall_max_s": round(max(r["wall_s"] for r in runs), 2),
        "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "runs": repeat,
    }
    print(f"{name}: {out['wall_s']} s wall (max {out['wall_max_s']}), {out['cpu_s']} s CPU, "
          f"{out['peak_rss_mb']} MB", file=sys.stderr)
    return out


def synthetic_store(path: Path, n: int) -> Path:
    """The 200k synthetic LanceStore (built once; ``store_search.build_items``, no models involved)."""
    from store_search import build_items

    from vimrag.store.lance import LanceStore
    from vimrag.testing.synthetic import make_store

    store_dir = path / "store"
    if store_dir.is_dir():
        return store_dir
    t0 = time.perf_counter()
    store = LanceStore(store_dir)
    batches = build_items(make_store(n=n, seed=0))
    for i in range(0, len(batches), 20):
        store.replace_many(batches[i:i + 20])
    store.close()
    print(f"built {n} synthetic items in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return store_dir


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo-store", required=True, help="a store with the demo corpus ingested")
    ap.add_argument("--synthetic-dir", default=None, help="where the 200k store is built once and reused")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-ask", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "cold_start.json"))
    args = ap.parse_args(argv)

    rows = [
        row("vimrag --help", [VIMRAG, "--help"], args.repeat),
        row("vimrag search (demo store)",
            [VIMRAG, "search", "a photo with a cup but no person", "--store", args.demo_store], args.repeat),
        row("vimrag search --json (demo store)",
            [VIMRAG, "search", "how many bicycles did the North region sell in Q3?", "--store",
             args.demo_store, "--json"], args.repeat),
    ]
    tmp = None
    if args.synthetic_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="vimrag-cold-"))
    syn = synthetic_store(Path(args.synthetic_dir) if args.synthetic_dir else tmp, args.n)  # type: ignore[arg-type]
    rows.append(row(f"vimrag search ({args.n:,}-item store)", [VIMRAG, "search", "c1 c7 but no c3", "--store",
                                                                 str(syn)], args.repeat))
    if not args.skip_ask:
        rows.append(row("vimrag ask --method rag (demo store)",
                        [VIMRAG, "ask", "Who leads Project Falcon?", "--method", "rag", "--store",
                         args.demo_store, "--json"], 1))
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"rows": rows, "cpus": os.cpu_count(), "python": platform.python_version(),
              "load_avg": round(os.getloadavg()[0], 2)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| command | wall s (median) | wall s (max) | CPU s | peak RSS MB |", "|---|---|---|---|---|"]
    lines += [f"| `{r['command']}` | {r['wall_s']} | {r['wall_max_s']} | {r['cpu_s']} | {r['peak_rss_mb']} |"
              for r in rows]
    out.with_suffix(".md").write_text(
        f"# Cold start of one CLI command ({os.cpu_count()} cores; `benchmarks/cold_start.py`)\n\n"
        + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
