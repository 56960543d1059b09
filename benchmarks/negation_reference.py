""""A but not B" search against a plain reference (issue 16): fixed thresholds on the detector, lexicographic order.

Issue 16 compares the shipped search with "SSD-MobileNet with two flips, fixed thresholds and the
lexicographic order" on COCO photos the project has not seen. This benchmark builds that reference on the
coco128-train photos and asks both query sets of the eval harness through it and through the shipped search:

- ``shipped``: the public ``Memory.search`` (default config, k = 5) over a store of the 128 photos, the
  same numbers as ``vimrag eval --dataset coco128-negation[-b] --methods polar``;
- ``reference``: the same SSD-MobileNet-v2, identity and horizontal flip, its per-class score s_c
  aggregated over the two views (max or mean); HAS when s_c ≥ t_has, NOT_HAS when s_c < t_not, UNCERTAIN
  between; Algorithm 1's states (VERIFIED: A HAS and B NOT_HAS; CONFLICT: A NOT_HAS or B HAS; neutral
  otherwise); inside a state the photos are ordered by A's score. That order is kinder to the reference
  than a text similarity would be (it is the detector's own confidence in A), so the comparison errs on
  its side. Every (aggregation, t_has, t_not) in the grid is reported; the reference row is the grid's
  best mean capped precision@5 over both query sets, i.e. thresholds tuned on the very photos it is
  scored on.

Per row and query set (keys ``"<set> capped_precision@5"`` and ``"<set> b_in_top5"``): capped precision@5 (gold in the top 5 over min(5, gold); gold = A present and B
absent by the COCO labels) and the share of the top 5 that contain B.

Run: ``python benchmarks/negation_reference.py [--store DIR]`` (without ``--store`` the photos are ingested
into a temporary store first, ~1 min). Output ``benchmarks/results/negation_reference.{json,md}``.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from negation_phrasings import PHRASINGS, arguments, measure, pairs, score_top  # noqa: E402

#: (name, seed, min_positive) of the eval harness's two "A but not B" sets.
QUERY_SETS = (("coco128-negation", 0, 1), ("coco128-negation-b", 1, 4))
AGGREGATIONS = ("max", "mean")
T_HAS = (0.3, 0.4, 0.5, 0.6)
T_NOT = (0.05, 0.1, 0.2, 0.3)


def detector_scores(files: list[Path]) -> np.ndarray:
    """(photos, 2, 80) SSD scores of the identity and the horizontally flipped view (the shipped detector)."""
    from PIL import Image

    from vimrag.config import Config
    from vimrag.models.perceivers.base import augmented_views, detector_side, to_rgb
    from vimrag.models.perceivers.local import LocalPerceiver

    detector = LocalPerceiver.from_config(Config()).detector
    out = np.zeros((len(files), 2, 80), dtype=np.float32)
    for i, f in enumerate(files):
        rgb = to_rgb(Image.open(f))
        for a, aug in enumerate(("identity", "hflip")):
            (view,) = augmented_views(rgb, aug)
            out[i, a] = detector.detect(view, detector_side(aug), boxes=False).scores
    return out


def reference_search(scores: np.ndarray, classes: dict[str, int], a: str, b: str, t_has: float, t_not: float,
                     k: int = 5) -> list[int]:
    """Photo indices of the reference's top k for "A but not B" (``scores``: photos × 80, aggregated)."""
    sa, sb = scores[:, classes[a]], scores[:, classes[b]]
    conflict = (sa < t_not) | (sb >= t_has)
    verified = (sa >= t_has) & (sb < t_not)
    state = np.where(conflict, 0, np.where(verified, 2, 1))
    order = np.lexsort((np.arange(len(sa)), -sa, -state))  # state first, then A's score, then file order
    return [int(i) for i in order[:k]]


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__, ROOT / "benchmarks" / "results" / "negation_reference.json").parse_args(argv)
    from vimrag import Memory
    from vimrag.models.perceivers.labels import COCO_NAMES

    data = Path(args.data)
    sets = {name: pairs(data, seed, min_pos) for name, seed, min_pos in QUERY_SETS}
    labels = next(iter(sets.values()))[1]
    files = sorted(data / "images" / f for f in labels)
    names = [f.name for f in files]
    classes = {c: i for i, c in enumerate(COCO_NAMES)}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vimrag-bench-negref-") as tmp:
        mem = Memory(store=args.store or tmp)
        try:
            if not args.store:
                t = time.perf_counter()
                mem.add([data / "images"], progress=True)
                print(f"ingested in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            shipped = {name: measure(mem, qp, labels, PHRASINGS["canonical"]) for name, (qp, _) in sets.items()}
        finally:
            mem.close()
    rows.append({"method": "shipped", **{f"{name} {m}": r[m] for name, r in shipped.items()
                                         for m in ("capped_precision@5", "b_in_top5")}})
    raw = detector_scores(files)
    grid = []
    for agg, t_has, t_not in itertools.product(AGGREGATIONS, T_HAS, T_NOT):
        s = raw.max(axis=1) if agg == "max" else raw.mean(axis=1)
        row: dict[str, Any] = {"method": "reference", "aggregation": agg, "t_has": t_has, "t_not": t_not}
        for name, (qp, _) in sets.items():
            top = [[names[i] for i in reference_search(s, classes, a, b, t_has, t_not)] for a, b in qp]
            row |= {f"{name} {m}": v for m, v in score_top(top, qp, labels).items()}
        grid.append(row)
    best = max(grid, key=lambda r: np.mean([r[f"{n} capped_precision@5"] for n, _, _ in QUERY_SETS]))
    rows.append({**best, "method": "reference (best of grid)"})
    result = {"benchmark": "negation_reference", "rows": rows, "grid": grid,
              "meta": {"data": str(data), "photos": len(files), "k": 5,
                       "query_sets": {n: f"seed {s}, A in ≥ {m} photos" for n, s, m in QUERY_SETS}}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(table(result), encoding="utf-8")
    print(table(result))
    return 0


def table(result: dict[str, Any]) -> str:
    sets = [n for n, _, _ in QUERY_SETS]
    head = "| method | thresholds | " + " | ".join(f"{n}: capped P@5 | {n}: B in top 5" for n in sets) + " |"
    lines = ["# \"A but not B\": the shipped search against a fixed-threshold reference", "",
             f"{result['meta']['photos']} coco128-train photos, k = 5. `python benchmarks/negation_reference.py`.", "",
             head, "|" + "---|" * (2 + 2 * len(sets))]
    for r in result["rows"] + [{**g, "method": "reference"} for g in result["grid"]]:
        th = f"{r['aggregation']}, HAS ≥ {r['t_has']}, NOT_HAS < {r['t_not']}" if "t_has" in r else "defaults"
        cells = " | ".join(f"{r[f'{n} capped_precision@5']:.3f} | {100 * r[f'{n} b_in_top5']:.1f} %" for n in sets)
        lines.append(f"| {r['method']} | {th} | {cells} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
