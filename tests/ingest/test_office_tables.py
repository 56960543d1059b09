"""Tables and office files on real files the tests write: a PDF with a ruled table (the demo report, made
with fpdf2), a DOCX, a PPTX, an XLSX and a CSV. Cells and numbers must survive exactly; boxes lie inside
the page; every item of a file has its own locator."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vimrag.config import IngestConfig
from vimrag.errors import ConfigError, IngestError
from vimrag.ingest.registry import iter_items, loader_for
from vimrag.ingest.tables import normalize, row_blocks, table_text
from vimrag.types import Locator, Modality

docx = pytest.importorskip("docx")
pptx = pytest.importorskip("pptx")
openpyxl = pytest.importorskip("openpyxl")
pytest.importorskip("pdfplumber")

CFG = IngestConfig()
SALES = [["Region", "Q1", "Q2", "Q3"], ["North", "980", "1,105", "1,240"], ["South", "720", "810", "905"]]


def _items(path: Path) -> list:
    items = list(iter_items(path, CFG))
    keys = [(i.modality, i.locator.key()) for i in items]
    assert len(keys) == len(set(keys)), f"two items of {path.name} share a locator: {keys}"
    return items


def _png(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (160, 100)) -> io.BytesIO:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    buf.seek(0)
    return buf


def test_table_text_names_every_cell() -> None:
    text = table_text(normalize(SALES), "Sales")
    assert "| North | 980 | 1,105 | 1,240 |" in text
    assert "North: Q1 = 980; Q2 = 1,105; Q3 = 1,240." in text
    blocks = list(row_blocks(normalize(SALES * 40), 300))
    assert len(blocks) > 3 and all(b[2][0] == SALES[0] for b in blocks)  # the header repeats
    assert normalize([[None, "", None], ["a", None, 1.0]]) == [["a", "1"]]


def test_pdf_ruled_table_is_a_table_item_with_page_and_box(tmp_path: Path) -> None:
    pytest.importorskip("fpdf")
    from vimrag.demo.corpus import SALES as REPORT_SALES
    from vimrag.demo.corpus import build_report

    pdf = build_report(tmp_path / "report.pdf")
    items = _items(pdf)
    pages = [i for i in items if i.modality == Modality.PAGE]
    tables = [i for i in items if i.meta.get("kind") == "table"]
    assert [p.locator.page for p in pages] == [1, 2] and len(tables) == 1
    t = tables[0]
    assert t.locator.page == 2 and t.locator.box is not None
    x1, y1, x2, y2 = t.locator.box
    assert 0 <= x1 < x2 <= 1000 and 0 <= y1 < y2 <= 1000 and y2 < 500  # the table is at the top of page 2
    assert "Bicycles sold per region and quarter" in t.text  # its caption
    north = REPORT_SALES[0]
    named = f"{north[0]}: Q1 = {north[1]:,}; Q2 = {north[2]:,}; Q3 = {north[3]:,}; Q4 = {north[4]:,}"
    assert named in t.text and "| North | 980 | 1,105 |" in t.text
    # The page's own text carries the table as named rows too, and the prose around it.
    assert named in pages[1].text and "sold the most bicycles" in pages[1].text
    assert pages[1].meta["text_source"] == "text_layer+tables"
    off = list(iter_items(pdf, IngestConfig(pdf_tables=False, pdf_figures=False)))
    assert [i.modality for i in off] == [Modality.PAGE, Modality.PAGE]


def test_pdf_figure_is_an_image_item_with_page_box_caption_and_words(tmp_path: Path) -> None:
    """A chart picture becomes a figure item: the crop of the page, cited by page and box, with its caption;
    a logo (too small) and the page itself are not figures."""
    fpdf = pytest.importorskip("fpdf")
    from PIL import Image, ImageDraw

    chart = Image.new("RGB", (600, 300), "white")
    d = ImageDraw.Draw(chart)
    for k, h in enumerate((120, 200, 260, 160)):
        d.rectangle([60 + k * 130, 280 - h, 140 + k * 130, 280], fill=(40, 90, 160))
    logo = Image.new("RGB", (40, 40), (200, 30, 30))
    chart.save(tmp_path / "chart.png")
    logo.save(tmp_path / "logo.png")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.image(str(tmp_path / "logo.png"), x=10, y=8, w=12)
    pdf.set_font("Helvetica", "", 12)
    pdf.set_xy(10, 30)
    pdf.multi_cell(0, 6, "Riders grew every month of the spring.")
    pdf.image(str(tmp_path / "chart.png"), x=20, y=60, w=160)
    pdf.set_xy(20, 142)
    pdf.cell(0, 6, "Figure 2: Riders per month, spring 2026")
    pdf.output(str(tmp_path / "riders.pdf"))

    items = _items(tmp_path / "riders.pdf")
    figures = [i for i in items if i.meta.get("kind") == "figure"]
    assert len(figures) == 1, [i.locator for i in items]
    fig = figures[0]
    assert fig.modality == Modality.IMAGE and fig.locator.page == 1
    x1, y1, x2, y2 = fig.locator.box
    # 20–180 mm of a 210 mm page, 60–140 mm of 297 mm
    assert (x1, y1, x2, y2) == pytest.approx((95.2, 202.0, 857.1, 471.4), abs=1.0)
    assert fig.meta["caption"] == "Figure 2: Riders per month, spring 2026"
    assert fig.text.startswith("Figure 1 on page 1: Figure 2: Riders per month")
    page = next(i for i in items if i.modality == Modality.PAGE)
    w, h = page.image.size
    assert fig.image is not None and fig.image.size == pytest.approx(((x2 - x1) * w / 1000, (y2 - y1) * h / 1000), abs=2)
    assert "Riders grew" in page.text  # the page keeps its text


def test_pdf_vector_chart_with_a_caption_is_a_figure_and_a_framed_note_is_not(tmp_path: Path) -> None:
    """A chart drawn with vector strokes (as matplotlib writes PDFs) has no picture to find: it is found as
    a cluster of drawing objects with a caption; a box of ruled lines around a note (no caption) is not."""
    fpdf = pytest.importorskip("fpdf")
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "", 9)
    pdf.line(30, 40, 30, 120)  # axes
    pdf.line(30, 120, 180, 120)
    for k, (label, h) in enumerate((("Q1", 30), ("Q2", 45), ("Q3", 70), ("Q4", 55))):
        x = 45 + k * 35
        pdf.rect(x, 120 - h, 20, h, style="F")
        pdf.text(x + 6, 126, label)
        pdf.line(27, 120 - h, 30, 120 - h)  # a tick per bar
    pdf.set_font("Helvetica", "", 11)
    pdf.text(30, 136, "Figure 3: Revenue per quarter (vector)")
    for k in range(10):  # a framed note: many lines, no caption
        pdf.line(30, 170 + 8 * k, 180, 170 + 8 * k)
    pdf.rect(28, 166, 154, 84)
    pdf.text(35, 175, "Note: this box is framed text, not a figure.")
    pdf.output(str(tmp_path / "vector.pdf"))

    figures = [i for i in _items(tmp_path / "vector.pdf") if i.meta.get("kind") == "figure"]
    assert len(figures) == 1, [f.locator for f in figures]
    fig = figures[0]
    assert fig.meta["caption"] == "Figure 3: Revenue per quarter (vector)"
    x1, y1, x2, y2 = fig.locator.box
    assert 100 <= x1 < 160 and 120 <= y1 < 160 and 820 < x2 < 900 and 400 < y2 < 440  # ≈ 27–180 mm, 40–124 mm
    assert "Q1" in fig.text and "Q4" in fig.text  # the chart's own labels, from the text layer


def test_docx_sections_tables_and_pictures(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_heading("Fleet report", 0)
    d.add_heading("Costs", 1)
    d.add_paragraph("Maintenance costs fell in 2026 thanks to the new depot.")
    t = d.add_table(rows=3, cols=3)
    for i, row in enumerate([["Bus", "Route", "Cost EUR"], ["B-17", "Lakeside", "12,480"], ["B-22", "Harbour", "9,310"]]):
        for j, v in enumerate(row):
            t.cell(i, j).text = v
    d.add_heading("Outlook", 1)
    d.add_paragraph("Two electric buses arrive in March.")
    d.add_picture(_png())
    path = tmp_path / "fleet.docx"
    d.save(str(path))
    items = _items(path)
    sections = [i for i in items if i.meta.get("kind") == "section"]
    table = next(i for i in items if i.meta.get("kind") == "table")
    picture = next(i for i in items if i.modality == Modality.IMAGE)
    costs = next(s for s in sections if "Maintenance" in s.text)
    assert costs.meta["headings"] == ["Fleet report", "Costs"]
    assert not any("electric" in s.text for s in sections if "Maintenance" in s.text)  # sections stay apart
    assert "B-17: Route = Lakeside; Cost EUR = 12,480." in table.text and table.meta["headings"] == ["Fleet report", "Costs"]
    assert picture.image is not None and picture.image.size == (160, 100)


def test_pptx_slides_tables_notes_and_pictures(tmp_path: Path) -> None:
    from pptx.util import Inches

    prs = pptx.Presentation()
    s = prs.slides.add_slide(prs.slide_layouts[5])
    s.shapes.title.text = "Ridership 2026"
    tb = s.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for i, row in enumerate([["Line", "Riders"], ["L1", "48,200"], ["L2", "31,950"]]):
        for j, v in enumerate(row):
            tb.cell(i, j).text = v
    s.shapes.add_picture(_png((20, 90, 200)), Inches(7), Inches(5), Inches(2), Inches(1.25))
    s.notes_slide.notes_text_frame.text = "Mention the L1 record."
    s2 = prs.slides.add_slide(prs.slide_layouts[1])
    s2.shapes.title.text = "Next steps"
    s2.placeholders[1].text = "Electrify line L2 by 2028"
    path = tmp_path / "deck.pptx"
    prs.save(str(path))
    items = _items(path)
    slides = [i for i in items if i.meta.get("kind") == "slide"]
    assert [i.locator.page for i in slides] == [1, 2]
    assert slides[0].text.count("Ridership 2026") == 1 and "Speaker notes: Mention the L1 record." in slides[0].text
    assert "Electrify line L2 by 2028" in slides[1].text
    table = next(i for i in items if i.meta.get("kind") == "table")
    assert table.locator.page == 1 and "L1: Riders = 48,200." in table.text
    assert table.locator.box == pytest.approx((100.0, 266.7, 700.0, 533.3), abs=0.2)  # 1–7 in of 10, 2–4 of 7.5
    pic = next(i for i in items if i.modality == Modality.IMAGE)
    assert pic.locator.page == 1 and pic.image is not None and pic.locator.box[0] == pytest.approx(700, abs=0.2)
    text_only = [i for i in iter_items(path, IngestConfig(ocr=False, office_render="never")) if i.meta.get("kind") == "slide"]
    assert all(i.modality == Modality.TEXT and i.image is None and i.meta["render"].startswith("none") for i in text_only)


def test_pptx_native_chart_is_read_from_its_data(tmp_path: Path) -> None:
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    prs = pptx.Presentation()
    s = prs.slides.add_slide(prs.slide_layouts[5])
    s.shapes.title.text = "Revenue 2026"
    data = CategoryChartData()
    data.categories = ["Q1", "Q2", "Q3", "Q4"]
    data.add_series("Revenue", (1.8, 2.4, 3.1, 2.7))
    data.add_series("Costs", (1.5, 1.6, None, 2.0))
    chart = s.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(2), Inches(8), Inches(4), data).chart
    chart.has_title = True
    chart.chart_title.text_frame.text = "Revenue by quarter (million euros)"
    path = tmp_path / "charts.pptx"
    prs.save(str(path))
    items = list(iter_items(path, IngestConfig(ocr=False, office_render="never")))
    item = next(i for i in items if i.meta.get("kind") == "chart")
    assert item.modality == Modality.TEXT and item.locator.page == 1 and item.locator.box[0] == pytest.approx(100, abs=0.2)
    lines = item.text.splitlines()
    assert lines[0] == "Slide 1: Revenue 2026 › Chart 1"
    assert lines[1] == "Chart: Revenue by quarter (million euros) (column clustered)"
    assert lines[2] == "Revenue: Q1 = 1.8; Q2 = 2.4; Q3 = 3.1; Q4 = 2.7 (highest Q3, 3.1; lowest Q1, 1.8)"
    assert lines[3] == "Costs: Q1 = 1.5; Q2 = 1.6; Q4 = 2 (highest Q4, 2; lowest Q1, 1.5)"  # a missing point is left out
    slide = next(i for i in items if i.meta.get("kind") == "slide")
    assert "Revenue: Q1 = 1.8" in slide.text  # the slide says it too


def test_pptx_slides_drawn_by_libreoffice(tmp_path: Path) -> None:
    """With LibreOffice installed (CI installs it) each slide is a PAGE with its picture, same text; the
    picture shows the slide (its dark title bar drawn where python-pptx put it)."""
    from vimrag.ingest.office_render import soffice

    if soffice() is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-impress-nogui)")
    from pptx.dml.color import RGBColor
    from pptx.util import Inches

    prs = pptx.Presentation()
    for k, title in enumerate(("Revenue 2026", "Next steps")):
        s = prs.slides.add_slide(prs.slide_layouts[5])
        s.shapes.title.text = title
        bar = s.shapes.add_shape(1, Inches(0), Inches(6.5), Inches(10), Inches(1))  # a dark band at the bottom
        bar.fill.solid()
        bar.fill.fore_color.rgb = RGBColor(10, 10, 10 + 100 * k)
    path = tmp_path / "drawn.pptx"
    prs.save(str(path))
    slides = [i for i in _items(path) if i.meta.get("kind") == "slide"]
    assert [s.modality for s in slides] == [Modality.PAGE, Modality.PAGE]
    assert all(s.meta["render"] == "libreoffice" for s in slides) and "Revenue 2026" in slides[0].text
    img = slides[0].image
    assert img is not None and img.width > img.height  # 10 × 7.5 in
    w, h = img.size
    band = np.asarray(img.crop((w // 4, int(h * 0.9), 3 * w // 4, int(h * 0.97)))).mean()
    top = np.asarray(img.crop((w // 4, int(h * 0.5), 3 * w // 4, int(h * 0.6)))).mean()
    assert band < 60 < top  # the dark band is drawn at the bottom, the middle stays light
    never = IngestConfig(ocr=False, office_render="never")
    assert [i.modality for i in iter_items(path, never) if i.meta.get("kind") == "slide"] == [Modality.TEXT] * 2
    with pytest.raises(ConfigError, match="office_render"):
        IngestConfig(office_render="sometimes")


def test_xlsx_and_csv_keep_cells_exact_with_sheet_ranges(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sales"
    for row in [["Region", "Q1", "Q2"], ["North", 980, 1105], ["South", 720, 810.5]]:
        ws.append(row)
    wb.create_sheet("Empty")
    big = wb.create_sheet("Log")
    big.append(["id", "event"])
    for i in range(400):
        big.append([i, f"event number {i}"])
    path = tmp_path / "sales.xlsx"
    wb.save(str(path))
    items = _items(path)
    sales = [i for i in items if i.locator.sheet == "Sales"]
    assert len(sales) == 1 and sales[0].locator.cells == "A1:C3"
    assert "North: Q1 = 980; Q2 = 1105." in sales[0].text and "South: Q1 = 720; Q2 = 810.5." in sales[0].text
    logs = [i for i in items if i.locator.sheet == "Log"]
    assert len(logs) > 1 and all(i.text.count("| id | event |") == 1 for i in logs)
    assert logs[-1].locator.cells.endswith("B401") and "event number 399" in logs[-1].text
    assert not any(i.locator.sheet == "Empty" for i in items)
    assert str(sales[0].locator) == "sheet Sales A1:C3"

    csv_path = tmp_path / "people.csv"
    csv_path.write_text("name;age;city\nAda;36;Oslo\nBo;41;Bergen\n")
    (item,) = _items(csv_path)
    assert "Ada: age = 36; city = Oslo." in item.text and item.locator == Locator(chunk=0, sheet="people", cells="A1:C3")


def test_damaged_and_foreign_zip_files_fail_alone(tmp_path: Path) -> None:
    zpath = tmp_path / "archive.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(IngestError, match="ZIP archive"):
        loader_for(zpath)
    fake = tmp_path / "fake.docx"
    fake.write_bytes(zpath.read_bytes())
    with pytest.raises(IngestError, match="DOCX"):
        list(iter_items(fake, CFG))
    good = tmp_path / "good.pptx"
    prs = pptx.Presentation()
    prs.slides.add_slide(prs.slide_layouts[5]).shapes.title.text = "t"
    prs.save(str(good))
    cut = tmp_path / "cut.pptx"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(IngestError, match="PPTX"):
        list(iter_items(cut, CFG))
    bad_xlsx = tmp_path / "bad.xlsx"
    bad_xlsx.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(IngestError, match="XLSX"):
        list(iter_items(bad_xlsx, CFG))
