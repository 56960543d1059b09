"""Ingestion throughput on Ray Data (issue 17): the local engine vs ``--engine ray`` with 1 and 2 workers.

Corpus: the coco128-train photos, each also mirrored left-right (``--mirror``, on by default: coco128
has 128 photos and issue 17 asks for at least 200; a mirrored photo is a different file with different
pixels, perceived and embedded like any other), and the shared short videos (each video segment is one
more perceived keyframe), ingested into a fresh embedded store per run with the defaults. Each run is its own process
(``vimrag ingest --json``), so the driver's peak memory is that run's. Reported per run: files, items,
wall seconds, items/s, the driver's peak RSS; and whether the Ray store holds exactly what the local one
holds (item ids, texts, HAS / NOT_HAS, media names).

Run: ``python benchmarks/ray_ingest.py [--limit N] [--no-mirror]``. Output: ``benchmarks/results/ray_ingest.json`` and
``.md``. On this 2-core machine two workers share two cores with the driver: the figure says what the
engine costs and gives here, a cluster adds cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "src"))

_RUN = """
import json, resource, sys, time
from vimrag import Memory, load_config
store, corpus, engine, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cfg = load_config(overrides={"store.uri": store, "ingest.ray_workers": workers}, env={})
t = time.perf_counter()
with Memory(cfg) as mem:
    report = mem.add([corpus], progress=False, engine=engine)
    items = mem.stats()["items"]
print(json.dumps({"seconds": time.perf_counter() - t, "files": len(report.files), "failed": len(report.failed),
                  "items": items, "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(store: Path, corpus: Path, engine: str, workers: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _RUN, str(store), str(corpus), engine, str(workers)],
                         capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _content(store: Path) -> dict:
    from vimrag import Memory

    with Memory(store=str(store)) as mem:
        return {it.id: (it.text, tuple(sorted(it.has)), tuple(sorted(it.not_has)), it.media, Path(it.source).name)
                for it in mem.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos (0: all 128)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ray_ingest.json"))
    ap.add_argument("--compare-only", action="store_true", help="only the local and 2-worker runs")
    ap.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=True,
                    help="also ingest each photo mirrored left-right (256 photos from coco128)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vimrag-ray-ingest-"))
    try:
        corpus = work / "corpus"
        corpus.mkdir()
        photos = sorted((DATA / "coco128-train" / "images").glob("*.jpg"))
        for p in photos[: args.limit or None]:
            shutil.copyfile(p, corpus / p.name)
            if args.mirror:
                from PIL import Image, ImageOps

                with Image.open(p) as im:
                    ImageOps.mirror(im.convert("RGB")).save(corpus / f"{p.stem}_mirror.jpg", quality=95)
        for v in sorted((DATA / "videos").iterdir()):
            shutil.copyfile(v, corpus / v.name)
        rows = []
        runs = (("local", "local", 0), ("ray, 1 worker", "ray", 1), ("ray, 2 workers", "ray", 2))
        for name, engine, workers in runs[:: 2] if args.compare_only else runs:
            r = _run(work / name.replace(" ", "").replace(",", "_"), corpus, engine, workers)
            r |= {"run": name, "items_per_s": r["items"] / r["seconds"]}
            rows.append(r)
            print(f"{name:<16} {r['files']} files, {r['items']} items, {r['seconds']:.1f} s, "
                  f"{r['items_per_s']:.2f} items/s, driver {r['driver_peak_rss_mb']:.0f} MB", flush=True)
        local, remote = _content(work / "local"), _content(work / "ray_2workers")
        same = {i: v[:4] for i, v in local.items()} == {i: v[:4] for i, v in remote.items()}
        fields = ("text", "has", "not_has", "media")
        differ = {f: sum(1 for i in local if i in remote and local[i][j] != remote[i][j])
                  for j, f in enumerate(fields)}
        differ["ids"] = len(set(local) ^ set(remote))
        which = {f"{local[i][4]} ({i})": [f for j, f in enumerate(fields) if local[i][j] != remote[i][j]]
                 for i in local if i in remote and local[i][:4] != remote[i][:4]}
        print("items that differ, by field:", differ)
        result = {"benchmark": "ray_ingest", "cpus": os.cpu_count(), "photos": len(list(corpus.glob("*.jpg"))),
                  "videos": len(list((DATA / "videos").iterdir())), "rows": rows,
                  "ray_store_equals_local_store": same, "items_differing_by_field": differ, "differing_items": which,
                  "when": time.strftime("%Y-%m-%d")}
        out = Path(args.out)
        out.write_text(json.dumps(result, indent=1))
        lines = ["# Ingestion on Ray Data vs the local engine", "",
                 f"{result['photos']} photos (coco128{' and their mirror images' if args.mirror else ''}) + "
                 f"{result['videos']} videos, fresh embedded store per run, "
                 f"{result['cpus']} CPUs. Ray store == local store (ids, texts, HAS/NOT_HAS, media): **{same}**; "
                 f"items that differ, by field: {differ} (a worker runs Whisper on one thread: its transcript of "
                 "music without speech differs, as a local ingest with OMP_NUM_THREADS=1 does).", "",
                 "| run | files | items | seconds | items/s | driver peak RSS (MB) |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['run']} | {r['files']} | {r['items']} | {r['seconds']:.1f} | {r['items_per_s']:.2f} | "
                  f"{r['driver_peak_rss_mb']:.0f} |" for r in rows]
        out.with_suffix(".md").write_text("\n".join(lines) + "\n")
        print("ray store == local store:", same)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
