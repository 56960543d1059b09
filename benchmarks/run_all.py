"""Run every benchmark in benchmarks/ and collect their JSON results into one table.

Convention for a benchmark script ``benchmarks/<name>.py``: it writes its results to
``benchmarks/results/<name>.json`` (or to ``--out PATH``), as ``{"benchmark": name, "rows": [{...}, ...],
"meta": {...}}`` (a bare list of row objects is accepted too), and accepts ``--quick`` if it has a short
mode. ``run_all.py`` runs each one in its own process (so one crash or missing model does not stop the
others), then writes ``benchmarks/results/summary.json`` and ``summary.md``.

Usage::

    python benchmarks/run_all.py                 # all benchmarks
    python benchmarks/run_all.py --quick         # short modes where a script has one
    python benchmarks/run_all.py --only polar_search,ingest_throughput
    python benchmarks/run_all.py --collect-only  # just rebuild the summary from existing results
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def discover() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.name != "run_all.py" and not p.name.startswith("_"))


def run_one(script: Path, quick: bool, timeout: float) -> dict[str, Any]:
    out = RESULTS / f"{script.stem}.json"
    cmd = [sys.executable, str(script)]
    src = script.read_text(encoding="utf-8")
    if '"--out"' in src:
        cmd += ["--out", str(out)]
    if quick and '"--quick"' in src:
        cmd.append("--quick")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True, timeout=timeout)
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
    except subprocess.TimeoutExpired:
        status, tail = f"timeout after {timeout:.0f}s", []
    return {"benchmark": script.stem, "status": status, "seconds": round(time.perf_counter() - t0, 1),
            "output_tail": tail, "result_file": str(out) if out.is_file() else None}


def load_rows(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return []
    rows = data.get("rows", data.get("results", [])) if isinstance(data, dict) else data
    if isinstance(rows, dict):
        rows = [dict(v, name=k) if isinstance(v, dict) else {"name": k, "value": v} for k, v in rows.items()]
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)[:40]
    return str(v)


def summarize(runs: list[dict[str, Any]]) -> str:
    lines = ["# Benchmark summary", ""]
    if runs:
        lines += ["| benchmark | status | seconds |", "|---|---|---|"]
        lines += [f"| {r['benchmark']} | {r['status']} | {r['seconds']} |" for r in runs]
        lines.append("")
    for f in sorted(RESULTS.glob("*.json")):
        if f.stem == "summary":
            continue
        rows = load_rows(f)
        if not rows:
            continue
        cols: list[str] = []
        for r in rows:
            cols += [k for k in r if k not in cols and not isinstance(r[k], (list, dict))]
        lines += [f"## {f.stem}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to benchmarks that support it")
    ap.add_argument("--only", default="", help="comma-separated benchmark names")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    ap.add_argument("--collect-only", action="store_true")
    args = ap.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    scripts = [s for s in discover() if not only or s.stem in only]
    unknown = only - {s.stem for s in discover()}
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(s.stem for s in discover())}",
              file=sys.stderr)
        return 2
    runs: list[dict[str, Any]] = []
    if not args.collect_only:
        for s in scripts:
            print(f"== {s.stem}", flush=True)
            r = run_one(s, args.quick, args.timeout)
            print(f"   {r['status']} in {r['seconds']} s", flush=True)
            if r["status"] != "ok":
                print("   " + "\n   ".join(r["output_tail"]), flush=True)
            runs.append(r)
    table = summarize(runs)
    (RESULTS / "summary.md").write_text(table + "\n")
    (RESULTS / "summary.json").write_text(json.dumps(
        {"runs": runs, "results": {f.stem: load_rows(f) for f in sorted(RESULTS.glob("*.json")) if f.stem != "summary"}},
        indent=2))
    print(table)
    return 0 if all(r["status"] == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
