"""MMLongBench-Doc → the eval schema. The corpus is the benchmark's own ``documents/`` folder (no copy).

``samples.json`` records: ``doc_id`` (PDF file name), ``question``, ``answer`` (a Python-literal list for
``List`` answers; ``"Not answerable"`` for the unanswerable ones), ``evidence_pages`` and
``evidence_sources`` (Python-literal lists), ``answer_format`` (Str / Int / Float / List / None),
``doc_type``.

Evidence pages are **1-based**: checked on the dev PDFs by locating each short textual answer in the
pages' text — 11 of 12 unambiguous answers sit on page ``p`` counting from 1 and only 1 on ``p`` counting
from 0 (the official runner also names rendered pages ``index + 1``). One dev record lists page ``0``; it
is kept as document-level evidence (``page: null``) and reported in ``meta.invalid_pages``.

``category`` is the sorted evidence sources joined with ``" + "`` (``"unanswerable"`` when none);
``meta.evidence_sources`` keeps the list so a report can count a question under each of its sources, as
the official ``show_results`` does.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from vimrag.eval.schema import Dataset, DatasetError, Evidence, Example, write_dataset

UNANSWERABLE = "Not answerable"
_FORMATS = {"str": "str", "int": "int", "float": "float", "list": "list", "none": "none"}


def _literal(value: Any, where: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError) as exc:
        raise DatasetError(f"{where}: cannot parse {value!r} as a Python literal") from exc


def _answer(raw: Any, fmt: str, where: str) -> Any:
    if fmt == "list" and isinstance(raw, str) and raw.strip().startswith("["):
        value = _literal(raw, where)
        return [str(v) for v in value] if isinstance(value, list) else raw
    return raw


def convert_mmlongbench(src: str | Path, out: str | Path, name: str = "mmlongbench-doc-dev") -> Dataset:
    """Convert ``src/samples.json`` into ``out/<name>.jsonl``; the corpus is ``src/documents``."""
    src, out = Path(src), Path(out)
    spath, docs = src / "samples.json", src / "documents"
    if not spath.is_file() or not docs.is_dir():
        raise DatasetError(f"{src}: expected samples.json and documents/ (MMLongBench-Doc layout)")
    samples = json.loads(spath.read_text(encoding="utf-8"))
    examples: list[Example] = []
    counts: dict[str, int] = {}
    for n, s in enumerate(samples):
        where = f"{spath}[{n}]"
        doc = s["doc_id"]
        if not (docs / doc).is_file():
            raise DatasetError(f"{where}: document {doc!r} not found in {docs}")
        fmt = _FORMATS.get(str(s.get("answer_format", "Str")).lower())
        if fmt is None:
            raise DatasetError(f"{where}: unknown answer_format {s.get('answer_format')!r}")
        pages = _literal(s.get("evidence_pages", "[]"), where) or []
        sources = _literal(s.get("evidence_sources", "[]"), where) or []
        valid = [int(p) for p in pages if int(p) >= 1]
        invalid = [int(p) for p in pages if int(p) < 1]
        evidence = [Evidence(doc, p) for p in valid]
        if invalid and not valid:
            evidence = [Evidence(doc)]
        counts[doc] = counts.get(doc, 0) + 1
        qid = f"{Path(doc).stem[:40]}#{counts[doc]}"
        meta: dict[str, Any] = {"doc": doc, "doc_type": s.get("doc_type"), "evidence_sources": list(sources),
                                "evidence_pages": valid}
        if invalid:
            meta["invalid_pages"] = invalid
        examples.append(Example(
            id=qid, question=s["question"], answers=[_answer(s["answer"], fmt, where)], answer_format=fmt,
            evidence=evidence,
            category=" + ".join(sorted(sources)) if sources else "unanswerable" if fmt == "none" else None,
            meta=meta,
        ))
    ds = Dataset(name, examples, docs.resolve(), "qa",
                 "MMLongBench-Doc questions over long PDFs (1-based evidence pages, evidence sources)",
                 meta={"source": str(src), "scoring": "mmlongbench"})
    ds.path = write_dataset(out / f"{name}.jsonl", ds)
    return ds
