"""The COCO detector on OpenCV DNN vs ONNX Runtime (issue 16: perception speed), same photos, same scores.

Per runtime: detector seconds per view and per photo over the shipped views (identity, flip, 3×3 tiles,
through ``CocoDetector.detect_many``), the largest score difference from OpenCV over those views, and
photo ingestion end to end
through ``vimrag.Memory`` (shipped defaults, models loaded before timing, as
``benchmarks/ingest_throughput.py`` measures it).

Output: ``benchmarks/results/detector_runtime.json`` and ``.md``. ``--photos N`` (default 32), ``--quick`` (8).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))


def passes(runtime: str, photos: list[Path], reference: dict[tuple[str, int], Any]) -> dict[str, float]:
    """The shipped views of each photo (identity, flip, the 3×3 tiles) through ``detect_many``."""
    import numpy as np
    from PIL import Image

    from vimrag.models.perceivers.base import augmented_views
    from vimrag.models.perceivers.detector import CocoDetector

    det = CocoDetector(runtime=runtime)
    images = [Image.open(p).convert("RGB") for p in photos]
    det.detect(images[0])  # load and warm up
    diff, views, t0 = 0.0, 0, time.perf_counter()
    for path, image in zip(photos, images, strict=True):
        jobs = [(v, 300, a == "identity", False) for a in ("identity", "hflip", "tiles3") for v in augmented_views(image, a)]
        for k, out in enumerate(det.detect_many(jobs)):
            key = (path.name, k)
            reference.setdefault(key, out.scores)
            diff = max(diff, float(np.abs(out.scores - reference[key]).max()))
        views += len(jobs)
    seconds = time.perf_counter() - t0
    return {"s_per_view": seconds / views, "s_per_photo": seconds / len(photos), "max_score_diff": diff}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--photos", type=int, default=32)
    ap.add_argument("--quick", action="store_true", help="8 photos")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "detector_runtime.json"))
    args = ap.parse_args(argv)
    photos = sorted((Path(args.data) / "coco128-train" / "images").glob("*.jpg"))[: 8 if args.quick else args.photos]
    if not photos:
        print(f"no coco128-train photos under {args.data}; pass --data", file=sys.stderr)
        return 2
    from ingest_throughput import measure

    from vimrag.config import load_config

    config = load_config()
    reference: dict[tuple[str, int], Any] = {}
    rows = []
    for runtime in ("opencv", "onnxruntime"):  # OpenCV first: its scores are the reference
        row: dict[str, Any] = {"runtime": runtime}
        got = passes(runtime, photos, reference)
        row.update({"detector_s_per_view": round(got["s_per_view"], 4),
                    "detector_s_per_photo": round(got["s_per_photo"], 3),
                    "max_score_diff_vs_opencv": float(f"{got['max_score_diff']:.2g}")})
        items, seconds, failed = measure(photos, config.with_overrides({"models.detector_runtime": runtime}), True)
        row.update({"photos": len(photos), "failed": failed, "ingest_s": round(seconds, 2),
                    "ingest_s_per_photo": round(seconds / len(photos), 3)})
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "detector_runtime", "rows": rows,
                               "meta": {"photos": len(photos), "models": config.to_dict()["models"]}}, indent=2))
    lines = ["# COCO detector runtime (`benchmarks/detector_runtime.py`, coco128-train, 2 cores)", "",
             "| runtime | detector s / view | detector s / photo (11 views) | max score diff vs OpenCV | "
             "ingest s / photo |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['runtime']} | {r['detector_s_per_view']} | {r['detector_s_per_photo']} | "
                     f"{r['max_score_diff_vs_opencv']:.1g} | {r['ingest_s_per_photo']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
