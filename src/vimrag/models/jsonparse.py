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
    return _scan(text, start)[0]


def _scan(text: str, start: int) -> tuple[int | None, list[str]]:
    """(index of the bracket closing the one at ``start``, []) — or (None, the closers still owed) when the
    text ends first, or (None, []) on a mismatched closer. String literals are skipped."""
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
                return None, []
            if not stack:
                return k, []
    return None, stack


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


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object in ``text``, in order (fences and prose around them are ignored).

    For replies that may hold several objects (an agent's action after a stray example). Beyond
    :func:`parse_json_loose`'s trailing commas it also takes single-quoted near-JSON and an object cut off
    before its closing braces (a model that hit its token limit).
    """
    out: list[dict[str, Any]] = []
    i = text.find("{")
    while i != -1:
        end, owed = _scan(text, i)
        span = text[i : end + 1] if end is not None else text[i:] + "".join(reversed(owed))
        ok, val = _try(span)
        if not ok and "'" in span and '"' not in span:
            ok, val = _try(span.replace("'", '"'))
        if ok and isinstance(val, dict):
            out.append(val)
            i = text.find("{", end + 1) if end is not None else -1
        else:
            i = text.find("{", i + 1)
    return out
