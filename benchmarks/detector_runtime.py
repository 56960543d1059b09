"""The COCO detector on OpenCV DNN vs ONNX Runtime (issue 16: perception speed), same photos, same scores.

Per runtime: seconds per detector pass at 300 px (the identity, flip and tile views) and 600 px (the
"hires" view), the largest score difference from OpenCV over those passes, and photo ingestion end to end
through ``vimrag.Memory`` (shipped defaults, models loaded before timing, as
``benchmarks/ingest_throughput.py`` measures it).

Output: ``benchmarks/results/detector_runtime.json`` and ``.md``. ``--photos N`` (default 32).
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


def passes(runtime: str, photos: list[Path], side: int, reference: dict[tuple[str, int], Any]) -> dict[str, float]:
    import numpy as np
    from PIL import Image

    from vimrag.models.perceivers.detector import CocoDetector

    det = CocoDetector(runtime=runtime)
    images = [Image.open(p).convert("RGB") for p in photos]
    det.detect(images[0], side)  # load and warm up
    diff, t0 = 0.0, time.perf_counter()
    for path, image in zip(photos, images, strict=True):
        scores = det.detect(image, side, boxes=False).scores
        key = (path.name, side)
        reference.setdefault(key, scores)
        diff = max(diff, float(np.abs(scores - reference[key]).max()))
    return {"s_per_pass": (time.perf_counter() - t0) / len(photos), "max_score_diff_vs_opencv": diff}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--photos", type=int, default=32)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "detector_runtime.json"))
    args = ap.parse_args(argv)
    photos = sorted((Path(args.data) / "coco128-train" / "images").glob("*.jpg"))[: args.photos]
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
        for side in (300, 600):
            got = passes(runtime, photos, side, reference)
            row[f"s_per_pass_{side}"] = round(got["s_per_pass"], 4)
            row[f"max_score_diff_{side}"] = float(f"{got['max_score_diff_vs_opencv']:.2g}")
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
             "| runtime | s / pass 300 px | s / pass 600 px | max score diff vs OpenCV | ingest s / photo |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['runtime']} | {r['s_per_pass_300']} | {r['s_per_pass_600']} | "
                     f"{max(r['max_score_diff_300'], r['max_score_diff_600']):.1g} | {r['ingest_s_per_photo']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
