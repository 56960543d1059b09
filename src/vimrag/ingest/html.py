"""HTML loader: the visible text of a page, sectioned at ``<h1>``–``<h6>`` and chunked like Markdown.

We use the standard library's tolerant ``html.parser`` (no extra dependency; it accepts broken markup):
``<script>``, ``<style>``, ``<noscript>``, ``<template>``, ``<svg>`` and the ``<head>`` (except its ``<title>``)
are dropped, block elements become paragraph breaks, and headings start sections whose path is kept in
``meta["headings"]`` exactly as for Markdown. Offsets in ``meta`` index the extracted text, not the markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from vimrag.config import IngestConfig
from vimrag.errors import IngestError
from vimrag.ingest.base import RawItem
from vimrag.ingest.text import Section, chunk_sections, decode_text

_HIDDEN = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object"}
_BLOCK = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "aside",
    "blockquote",
    "pre",
    "hr",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "main",
    "form",
    "caption",
}
_CELL = {"td", "th"}
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.in_title = False
        self.title = ""
        self.heading_level = 0
        self.heading_text: list[str] = []
        self.stack: list[tuple[int, str]] = []
        self.sections: list[tuple[tuple[str, ...], list[str]]] = [((), [])]

    def _buf(self) -> list[str]:
        return self.sections[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in _HIDDEN:
            self.hidden += 1
            return
        if self.hidden:
            return
        if tag in _HEADINGS:
            self.heading_level = _HEADINGS[tag]
            self.heading_text = []
        elif tag in _BLOCK:
            self._buf().append("\n\n")
        elif tag in _CELL:
            self._buf().append(" | ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._buf().append(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
            return
        if self.hidden:
            return
        if tag in _HEADINGS and self.heading_level:
            title = _squash(" ".join(self.heading_text))
            level = self.heading_level
            self.heading_level = 0
            if not title:
                return
            while self.stack and self.stack[-1][0] >= level:
                self.stack.pop()
            self.stack.append((level, title))
            self.sections.append((tuple(t for _, t in self.stack), [title, "\n\n"]))
        elif tag in _BLOCK:
            self._buf().append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        if self.hidden:
            return
        if self.heading_level:
            self.heading_text.append(data)
        else:
            self._buf().append(data)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _normalize(parts: list[str]) -> str:
    """Collapse runs of inline whitespace; keep paragraph breaks as blank lines."""
    paras = [_squash(p) for p in re.split(r"\n\s*\n", "".join(parts))]
    return "\n\n".join(p for p in paras if p)


def html_sections(markup: str) -> tuple[str, list[Section]]:
    """(title, sections of visible text) of an HTML document."""
    parser = _Extractor()
    parser.feed(markup)
    parser.close()
    sections, offset = [], 0
    for headings, parts in parser.sections:
        text = _normalize(parts)
        if text:
            sections.append(Section(headings, text, offset))
            offset += len(text) + 2
    return _squash(parser.title), sections


class HtmlLoader:
    """HTML pages: visible text only, sectioned by headings, chunked with overlap (see module doc)."""

    name: str = "html"
    extensions: tuple[str, ...] = (".html", ".htm", ".xhtml")

    def load(self, path: Path, config: IngestConfig) -> Iterator[RawItem]:
        title, sections = html_sections(decode_text(path))
        if not sections:
            raise IngestError(str(path), "no visible text in HTML page")
        for item in chunk_sections(sections, config, source_kind="html"):
            if title:
                item.meta["title"] = title
            yield item
