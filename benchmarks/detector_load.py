"""How long a new process takes to load the COCO detector (issue 16): what every ``vimrag ingest``, Ray
worker and test that perceives a photo pays once before its first photo.

Three ways, each in fresh processes (so nothing is warm in memory but the OS page cache): OpenCV DNN
reading the TF graph; the graph rebuilt for ONNX Runtime at every start (``models.detector_cache = false``);
and read back from the on-disk entry (``perceivers.ssd_cache``, the default). Each load ends with one
300-px pass, so a lazily built session is counted. Median of ``--runs`` processes.

Output: ``benchmarks/results/detector_load.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import sys, time
from pathlib import Path
from PIL import Image
from vimrag.models.perceivers.detector import CocoDetector
runtime, cache = sys.argv[1], sys.argv[2]
t = time.perf_counter()
det = CocoDetector(runtime=runtime, cache=Path(cache) if cache else False)
det.detect(Image.new("RGB", (300, 300), (120, 130, 140)), boxes=False)
print(time.perf_counter() - t)
"""

WAYS = {"opencv": ("opencv", False), "onnxruntime, built": ("onnxruntime", False),
        "onnxruntime, cached": ("onnxruntime", True)}


def load_seconds(runtime: str, cache: str) -> float:
    out = subprocess.run([sys.executable, "-c", _CHILD, runtime, cache], capture_output=True, text=True,
                         check=True, timeout=300)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one process per way")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "detector_load.json"))
    args = ap.parse_args(argv)
    runs = 1 if args.quick else args.runs
    rows = []
    with tempfile.TemporaryDirectory(prefix="vimrag-bench-ssd-") as folder:
        load_seconds("onnxruntime", folder)  # writes the entry the cached way reads
        for name, (runtime, cached) in WAYS.items():
            secs = [load_seconds(runtime, folder if cached else "") for _ in range(runs)]
            rows.append({"way": name, "runs": runs, "seconds_median": round(statistics.median(secs), 3),
                         "seconds": [round(s, 3) for s in secs]})
            print(f"{name:22s} {rows[-1]['seconds_median']:.3f} s  {rows[-1]['seconds']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"what": "seconds from CocoDetector() to the end of its first 300-px pass, in a new process"}
    out.write_text(json.dumps({"benchmark": "detector_load", "rows": rows, "meta": meta}, indent=1))
    md = ["# COCO detector load in a new process (`benchmarks/detector_load.py`, 2 cores)", "",
          "| way | seconds (median) | runs |", "|---|---|---|"]
    md += [f"| {r['way']} | {r['seconds_median']:.3f} | {', '.join(f'{s:.3f}' for s in r['seconds'])} |" for r in rows]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
