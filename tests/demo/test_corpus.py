from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest

from vimrag.config import IngestConfig
from vimrag.demo.corpus import BRIEFING, NOTES, PHOTOS, REPORT, SALES, VIDEO, assemble
from vimrag.ingest.registry import iter_items, loader_for

pytest.importorskip("fpdf")
pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return assemble(tmp_path_factory.mktemp("demo"))


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_contents_licences_and_size(corpus: list[Path]) -> None:
    names = {p.name for p in corpus}
    assert names == {*PHOTOS, VIDEO, BRIEFING, *NOTES, REPORT, "LICENSES.md"}
    assert sum(p.stat().st_size for p in corpus) < 10 * 1024 * 1024
    lic = next(p for p in corpus if p.name == "LICENSES.md").read_text()
    for name in names - {"LICENSES.md"}:
        assert name in lic
    assert "CC BY 3.0" in lic and "CC0" in lic


def test_deterministic(corpus: list[Path], tmp_path: Path) -> None:
    assert _digest(assemble(tmp_path / "again")) == _digest(corpus)


def test_every_file_loads(corpus: list[Path]) -> None:
    for p in corpus:
        assert loader_for(p).name in {"image", "video", "markdown", "html", "pdf"}
    items = list(iter_items(next(p for p in corpus if p.name == REPORT), IngestConfig(ocr=False)))
    pages = [i for i in items if i.locator.box is None]
    (table,) = [i for i in items if i.meta.get("kind") == "table"]  # the sales table, cited by page 2 and its box
    (chart,) = [i for i in items if i.meta.get("kind") == "figure"]  # the revenue chart, page 1 and its box
    assert chart.locator.page == 1 and chart.image is not None
    assert len(pages) == 2 and "Q3 at 3.1 million euros" in pages[0].text
    north = SALES[0]
    assert f"Q3 = {north[3]:,}" in pages[1].text and f"Q3 = {north[3]:,}" in table.text
    assert "| Region | Q1 | Q2 | Q3 | Q4 | Total |" in table.text and table.locator.page == 2


def test_questions_reference_corpus(corpus: list[Path]) -> None:
    qs = json.loads((resources.files("vimrag.demo") / "questions.json").read_text())
    assert 5 <= len(qs) <= 7
    names = {p.name for p in corpus}
    for q in qs:
        assert q["question"] and q["answer"] and q["sources"]
        for src in q["sources"]:
            assert src.split("#")[0] in names
    assert any("but no" in q["question"] for q in qs)
    assert any(s.startswith(BRIEFING) for q in qs for s in q["sources"])
    assert any(s.startswith(REPORT) for q in qs for s in q["sources"])
    by_id = {q["id"]: q for q in qs}
    assert by_id["table-north-q3"]["answer"] == f"{SALES[0][3]:,}"
    assert by_id["negative-cup"]["answer"] == "coffee.png"
