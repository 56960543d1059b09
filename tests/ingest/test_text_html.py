from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from vimrag.config import IngestConfig
from vimrag.ingest.html import HtmlLoader
from vimrag.ingest.text import MarkdownLoader, TextLoader, chunk_spans, markdown_sections
from vimrag.types import Modality


def test_markdown_chunks_carry_heading_paths(doc_dir: Path) -> None:
    items = list(MarkdownLoader().load(doc_dir / "notes.md", IngestConfig()))
    assert [it.locator.chunk for it in items] == list(range(len(items)))
    assert all(it.modality == Modality.TEXT for it in items)
    by_text = {it.text.splitlines()[0]: it.meta.get("headings") for it in items}
    assert by_text["### Risks"] == ["Project Falcon", "Budget", "Risks"]
    assert by_text["## Team"] == ["Project Falcon", "Team"]  # ### Risks popped when ## Team starts
    budget = next(it for it in items if "3.2 million" in it.text)
    assert "# not a heading" in budget.text  # fenced code does not start a section
    src = (doc_dir / "notes.md").read_text()
    for it in items:
        assert src[it.meta["char_start"] : it.meta["char_end"]] == it.text


def test_plain_text_chunk_size_and_overlap(doc_dir: Path) -> None:
    cfg = IngestConfig(chunk_chars=400, chunk_overlap=60)
    items = list(TextLoader().load(doc_dir / "plain.txt", cfg))
    assert len(items) > 3
    assert all(len(it.text) <= cfg.chunk_chars + cfg.chunk_overlap + 2 for it in items)
    for a, b in zip(items, items[1:], strict=False):
        assert b.meta["char_start"] < a.meta["char_end"]  # overlap carried
    joined = "".join(it.text for it in items)
    for i in range(12):
        assert f"Paragraph {i}." in joined


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .\n"), min_size=1, max_size=3000), st.integers(20, 500))
def test_chunk_spans_cover_all_words(text: str, size: int) -> None:
    spans = chunk_spans(text, size, size // 5)
    covered = set()
    for a, b in spans:
        assert 0 <= a < b <= len(text)
        assert b - a <= size + size // 5 + 2
        covered.update(range(a, b))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_markdown_sections_without_headings() -> None:
    secs = markdown_sections("just text\n\nmore")
    assert len(secs) == 1 and secs[0].headings == ()


def test_html_visible_text_only(doc_dir: Path) -> None:
    items = list(HtmlLoader().load(doc_dir / "page.html", IngestConfig()))
    text = "\n".join(it.text for it in items)
    assert "ferry leaves at 9\xa0am" in text or "ferry leaves at 9 am" in text
    assert "Tickets cost 12 euros." in text
    assert "do not index" not in text and "color:red" not in text and "enable js" not in text
    assert items[0].meta["title"] == "Harbour news"
    weather = next(it for it in items if "Windy" in it.text)
    assert weather.meta["headings"] == ["Harbour", "Weather"]
