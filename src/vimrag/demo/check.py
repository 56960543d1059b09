"""Whether a demo answer is right and cites where it came from (``vimrag demo`` and its slow test).

A demo question (``questions.json``) lists ``accept``: groups of accepted spellings, one group per part of
the answer ("Q3" and "3.1" for the revenue question); an answer is right when it contains one spelling of
every group (case-insensitive). It lists ``sources`` too, the answer-bearing one first: ``file``,
``file#page=N`` or ``file#t=START,END``; the answer is cited when one citation names that file, and the
page, or a time span overlapping the expected one.

>>> q = {"accept": [["q3"], ["3.1"]], "sources": ["report.pdf#page=1"]}
>>> check(q, {"answer": "Q3; 3.1 million euros",
...           "citations": [{"source": "/d/report.pdf", "locator": {"page": 1}}]})
{'right': True, 'cited': True}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any


def _cites(citation: Mapping[str, Any], source: str) -> bool:
    name, _, frag = source.partition("#")
    if PurePath(str(citation.get("source", ""))).name != name:
        return False
    loc = citation.get("locator") or {}
    key, _, value = frag.partition("=")
    if key == "page":
        return bool(loc.get("page") == int(value))
    if key == "t":
        start, end = (float(v) for v in value.split(","))
        return loc.get("start") is not None and float(loc["start"]) < end and float(loc.get("end") or 0) > start
    return True


def check(question: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, bool]:
    """``{"right": …, "cited": …}`` for one answer (``result`` as ``AgentResult.to_json()`` gives it)."""
    answer = str(result.get("answer", "")).lower()
    right = all(any(str(a).lower() in answer for a in group) for group in question.get("accept", []))
    sources = list(question.get("sources", []))
    citations = list(result.get("citations", []))
    cited = not sources or any(_cites(c, str(sources[0])) for c in citations)
    return {"right": bool(right and question.get("accept")), "cited": cited}
