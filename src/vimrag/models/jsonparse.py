"""Lenient JSON extraction from model output.

Small local models and servers that ignore ``response_format`` wrap JSON in prose or Markdown fences and
leave trailing commas. Every JSON-producing step (query parsing into Q+/Q−, VimRAG actions, memorize
summaries) goes through :func:`parse_json_loose`, so one tolerant parser decides what counts as JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from vimrag.errors import VimragError

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


class JSONExtractionError(VimragError, ValueError):
    """No JSON object or array could be found in a model's text."""


def _strip_trailing_commas(s: str) -> str:
    """Remove commas before ``}``/``]`` that are outside string literals."""
    out: list[str] = []
    in_str = False
    esc = False
    i = 0
    n = len(s)
    while i < n:
        ch = s[i]
        if in_str:
            out.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
            out.append(ch)
        elif ch == ",":
            j = i + 1
            while j < n and s[j] in " \t\r\n":
                j += 1
            if j < n and s[j] in "}]":
                i += 1
                continue
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _balanced_spans(text: str) -> list[str]:
    """Every balanced ``{...}`` or ``[...]`` span, in order of start, scanning strings correctly."""
    spans: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        if text[i] in "{[":
            end = _match(text, i)
            if end is not None:
                spans.append(text[i : end + 1])
                i = end + 1
                continue
        i += 1
    return spans


def _match(text: str, start: int) -> int | None:
    stack: list[str] = []
    in_str = False
    esc = False
    pairs = {"{": "}", "[": "]"}
    for k in range(start, len(text)):
        ch = text[k]
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return k
    return None


def _try(s: str) -> tuple[bool, Any]:
    for candidate in (s, _strip_trailing_commas(s)):
        try:
            return True, json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
    return False, None


def parse_json_loose(text: str) -> Any:
    """Return the first JSON object or array in ``text``.

    Tries, in order: the whole text; the contents of each ```json fence; each balanced ``{...}``/``[...]``
    span. Trailing commas are tolerated. Raises :class:`JSONExtractionError` (a ``ValueError``) with the
    start of the text when nothing parses, so a caller can fall back to a rule-based path.
    """
    if not isinstance(text, str):
        raise JSONExtractionError(f"expected model text, got {type(text).__name__}")
    stripped = text.strip()
    ok, val = _try(stripped)
    if ok and isinstance(val, (dict, list)):
        return val
    for block in _FENCE.findall(text):
        ok, val = _try(block.strip())
        if ok and isinstance(val, (dict, list)):
            return val
        for span in _balanced_spans(block):
            ok, val = _try(span)
            if ok:
                return val
    for span in _balanced_spans(text):
        ok, val = _try(span)
        if ok:
            return val
    preview = stripped[:120].replace("\n", " ")
    raise JSONExtractionError(f"no JSON object or array found in model output: {preview!r}")
