"""What table extraction finds and costs on real documents: every MMLongBench-Doc dev PDF through
:func:`vimrag.ingest.pdf_tables.read_tables` (pdfplumber, ruled tables), pages with tables, tables, and the
seconds it adds to ingest (per page; compare with ``ingest_throughput.json``'s PDF pages/s).

Output: ``benchmarks/results/pdf_tables.json`` and ``pdf_tables.md``. Run: ``python benchmarks/pdf_tables.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = ROOT.parent / "shared" / "data" / "mmlongbench-doc-dev" / "documents"


def main() -> None:
    import pypdfium2 as pdfium

    from vimrag.ingest.pdf_tables import read_tables

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--quick", action="store_true", help="the five shortest documents")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/pdf_tables.json")
    args = ap.parse_args()

    def pages(p: Path) -> int:
        doc = pdfium.PdfDocument(str(p))
        try:
            return len(doc)
        finally:
            doc.close()

    docs = sorted(args.data.glob("*.pdf"), key=pages)[: 5 if args.quick else None]
    rows = []
    for f in docs:
        n = pages(f)
        t0 = time.perf_counter()
        found = read_tables(f)
        dt = time.perf_counter() - t0
        rows.append({"doc": f.name[:40], "pages": n, "pages_with_tables": len(found),
                     "tables": sum(len(p.tables) for p in found.values()), "seconds": round(dt, 2),
                     "ms_per_page": round(1000 * dt / max(1, n), 1)})
        print(rows[-1], flush=True)
    total_pages, total_s = sum(r["pages"] for r in rows), sum(r["seconds"] for r in rows)
    meta = {"documents": len(rows), "pages": total_pages, "tables": sum(r["tables"] for r in rows),
            "seconds": round(total_s, 1), "ms_per_page": round(1000 * total_s / max(1, total_pages), 1),
            "cpus": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "pdf_tables", "rows": rows, "meta": meta}, indent=1))
    lines = ["| document | pages | pages with tables | tables | s | ms/page |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['doc']} | {r['pages']} | {r['pages_with_tables']} | {r['tables']} | {r['seconds']} | "
              f"{r['ms_per_page']} |" for r in rows]
    lines.append(f"| **all** | {total_pages} | {sum(r['pages_with_tables'] for r in rows)} | {meta['tables']} | "
                 f"{meta['seconds']} | {meta['ms_per_page']} |")
    md = "# pdf_tables\n\n" + "\n".join(lines) + "\n"
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
