"""Ingestion throughput per modality with the embedded models, through the public ``vimrag.Memory``.

For each modality a small real corpus from ``../shared/data`` is ingested into a fresh temporary store
and timed end to end (loading, perception, entities, embedding, store writes):

- text: HotpotQA passages (one file each) → items/s and files/s;
- images: COCO photos → images/s (closed-set perception: detector, classifier);
- PDF pages: the shortest MMLongBench-Doc PDFs → pages/s (rendering, OCR, layout);
- video: the shared clips → video seconds per second (segments, keyframes, speech-to-text);
- slides: a 12-slide PPTX written here (python-pptx: title, bullets, a table each) → slides/s;
- video-narrated: the demo's narrated slides video → video seconds per second (speech-aligned segments,
  on-screen text);
and, to state what each new step of issue 15 costs, the same PDFs without table and figure items
(``pdf-plain``) and the same deck without LibreOffice (``slides-text``).

Output: ``benchmarks/results/ingest_throughput.json`` (rows: modality, files, items, units, unit, seconds,
items_per_s, units_per_s) and a table on stdout. ``--quick`` uses fewer files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))

from _stats import machine  # noqa: E402


def _pdf_pages(path: Path) -> int:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        return len(doc)
    finally:
        doc.close()


def _video_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        return float(c.duration or 0) / 1e6


def _deck(path: Path, n: int = 12) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    for k in range(n):
        s = prs.slides.add_slide(prs.slide_layouts[5])
        s.shapes.title.text = f"Quarter {k % 4 + 1} review, part {k + 1}"
        tb = s.shapes.add_textbox(Inches(0.5), Inches(1.5), Inches(9), Inches(1)).text_frame
        tb.text = f"Riders grew by {3 + k} % on line L{k % 5 + 1}; the depot opened {k + 2} new bays."
        table = s.shapes.add_table(3, 3, Inches(1), Inches(3), Inches(8), Inches(2)).table
        for i, row in enumerate([["Line", "Riders", "Change"], [f"L{k}", f"{48_200 + k:,}", f"+{k}%"],
                                 [f"L{k + 1}", f"{31_950 - k:,}", f"-{k}%"]]):
            for j, v in enumerate(row):
                table.cell(i, j).text = v
    prs.save(str(path))
    return path


Corpus = tuple[list[Path], float, str, dict[str, Any]]


def corpora(data: Path, quick: bool) -> dict[str, Corpus]:
    """{modality: (files, units, unit name, config overrides)}."""
    out: dict[str, Corpus] = {}
    from vimrag.eval.datasets.hotpotqa import write_passage  # reuse the eval converter's passage files

    tmp = Path(tempfile.mkdtemp(prefix="vimrag-bench-text-"))
    (tmp / "passages").mkdir()
    corpus = json.loads((data / "hotpotqa-100" / "corpus.json").read_text())
    for title, sents in list(corpus.items())[: 50 if quick else 300]:
        write_passage(tmp, title, sents)
    files = sorted((tmp / "passages").glob("*.txt"))
    out["text"] = (files, float(len(files)), "files", {})
    imgs = sorted((data / "coco128-train" / "images").glob("*.jpg"))[: 8 if quick else 32]
    out["image"] = (imgs, float(len(imgs)), "images", {})
    pdfs = sorted((data / "mmlongbench-doc-dev" / "documents").glob("*.pdf"), key=_pdf_pages)[: 1 if quick else 2]
    out["pdf"] = (pdfs, float(sum(_pdf_pages(p) for p in pdfs)), "pages", {})
    out["pdf-plain"] = (pdfs, out["pdf"][1], "pages", {"ingest.pdf_tables": False, "ingest.pdf_figures": False})
    vids = sorted((data / "videos").glob("*.mp4"), key=_video_seconds)[: 1 if quick else 2]
    out["video"] = (vids, sum(_video_seconds(v) for v in vids), "video seconds", {})
    deck = _deck(tmp / "deck.pptx")
    out["slides"] = ([deck], 12.0, "slides", {})
    out["slides-text"] = ([deck], 12.0, "slides", {"ingest.office_render": "never"})
    from importlib import resources

    narrated = tmp / "falcon_briefing.mp4"
    narrated.write_bytes((resources.files("vimrag.demo") / "assets" / "falcon_briefing.mp4").read_bytes())
    out["video-narrated"] = ([narrated], _video_seconds(narrated), "video seconds", {})
    return out


def measure(files: list[Path], config: Any, visual: bool) -> tuple[int, float, int]:
    from vimrag import Memory

    with tempfile.TemporaryDirectory(prefix="vimrag-bench-store-") as store:
        mem = Memory(config.with_overrides({"store.uri": store}))
        try:
            # load models before timing: we measure throughput, not start-up. The perceiver's parts (OCR,
            # layout) load on first use, so the first file is ingested once, untimed, into another store;
            # the entity model and the OCR engine load only when a file has text, which the first photo
            # may not, so they are loaded here (5.4 s and 2 s on a 2-core machine, once per process).
            _ = mem.embedder
            mem.entity_extractor.extract(["warm-up"])
            if visual:
                _ = mem.perceiver
                if config.ingest.ocr:
                    from vimrag.models.ocr import get_engine

                    get_engine()
                with tempfile.TemporaryDirectory(prefix="vimrag-bench-warm-") as warm, Memory(
                        config.with_overrides({"store.uri": warm}), embedder=mem.embedder,
                        perceiver=mem.perceiver) as first:
                    first.add(files[:1], progress=False)
            t0 = time.perf_counter()
            report = mem.add(files, progress=False)
            seconds = time.perf_counter() - t0
        finally:
            mem.close()
    return report.items, seconds, len(report.failed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Ingestion throughput per modality")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated modalities: text,image,pdf,pdf-plain,video,"
                    "slides,slides-text,video-narrated")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ingest_throughput.json"))
    args = ap.parse_args(argv)
    try:
        from vimrag import Memory  # noqa: F401
        from vimrag.config import load_config
    except ImportError as exc:
        print(f"ingest_throughput needs vimrag.Memory ({exc}); install vimrag with its 'local' extra "
              "(pip install -e '.[local,docs,video,store]')", file=sys.stderr)
        return 2
    data = Path(args.data)
    if not data.is_dir():
        print(f"shared data not found at {data}; pass --data", file=sys.stderr)
        return 2
    config = load_config()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    rows: list[dict[str, Any]] = []
    sets = corpora(data, args.quick)
    for modality, (files, units, unit, overrides) in sets.items():
        if only and modality not in only:
            continue
        try:
            items, seconds, failed = measure(files, config.with_overrides(overrides), visual=modality != "text")
        except Exception as exc:  # a missing model for one modality should not hide the others
            rows.append({"modality": modality, "files": len(files), "error": f"{type(exc).__name__}: {exc}"})
            print(f"{modality}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        rows.append({"modality": modality, "files": len(files), "failed": failed, "items": items,
                     "units": round(units, 2), "unit": unit, "seconds": round(seconds, 2),
                     "items_per_s": round(items / seconds, 3) if seconds else None,
                     "units_per_s": round(units / seconds, 3) if seconds else None})
        print(json.dumps(rows[-1]), flush=True)
    text_dir = sets["text"][0][0].parent.parent if sets["text"][0] else None
    if text_dir is not None:
        shutil.rmtree(text_dir, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"benchmark": "ingest_throughput", "rows": rows,
                                          "meta": {"quick": args.quick, "machine": machine(),
                                                   "models": config.to_dict()["models"]}},
                                         indent=2))
    print(f"{'modality':8} {'files':>5} {'items':>6} {'units':>8} {'seconds':>8} {'items/s':>8} {'units/s':>8}")
    for r in rows:
        if "error" in r:
            print(f"{r['modality']:8} {r['files']:>5} error: {r['error'][:70]}")
        else:
            print(f"{r['modality']:8} {r['files']:>5} {r['items']:>6} {r['units']:>8} {r['seconds']:>8} "
                  f"{r['items_per_s']:>8} {r['units_per_s']:>8}  ({r['unit']})")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
