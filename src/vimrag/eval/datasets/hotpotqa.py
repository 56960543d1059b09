"""HotpotQA / MuSiQue-style multi-hop QA → the eval schema plus a corpus of one text file per passage.

Input (HippoRAG's layout, ``hotpotqa-100/``): ``questions.json`` (HotpotQA records: ``_id``, ``question``,
``answer``, ``supporting_facts`` = [[title, sentence index]], ``type``, ``level``) and ``corpus.json``
(title → list of sentences). MuSiQue-style files with ``paragraphs`` [{title, paragraph_text,
is_supporting}] are accepted too.

Each passage becomes ``passages/<slug>.txt`` holding its title on the first line, a blank line, then the
sentences joined exactly as HotpotQA joins them (they carry their own leading spaces). A supporting fact
(title, i) maps to that file and to the character span ``[start, end)`` of sentence i, so retrieval can be
scored at the passage (doc hit@k) level and a reader can check the sentence.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from vimrag.eval.schema import Dataset, DatasetError, Evidence, Example, write_dataset


def passage_filename(title: str) -> str:
    """A portable, collision-free file name for a passage title (titles may contain '/', ':' ...)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", title).strip("._")[:60] or "passage"
    return f"{slug}-{hashlib.sha1(title.encode()).hexdigest()[:6]}.txt"


def _sentences(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(s) for s in value]
    if isinstance(value, str):
        return [value]
    raise DatasetError(f"corpus passage must be a list of sentences or a string, got {type(value).__name__}")


def write_passage(folder: Path, title: str, sentences: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Write one passage file; return its relative path and each sentence's character span in it."""
    header = f"{title}\n\n"
    spans: list[tuple[int, int]] = []
    pos = len(header)
    for s in sentences:
        spans.append((pos, pos + len(s)))
        pos += len(s)
    rel = f"passages/{passage_filename(title)}"
    path = folder / rel
    text = header + "".join(sentences) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return rel, spans


def convert_hotpotqa(src: str | Path, out: str | Path, name: str = "hotpotqa-100") -> Dataset:
    """Convert ``src`` (questions.json + corpus.json) into ``out/<name>.jsonl`` and ``out/corpus/passages``."""
    src, out = Path(src), Path(out)
    qpath, cpath = src / "questions.json", src / "corpus.json"
    for p in (qpath, cpath):
        if not p.is_file():
            raise DatasetError(f"{p}: not found (expected HotpotQA questions.json and corpus.json)")
    questions = json.loads(qpath.read_text(encoding="utf-8"))
    corpus_raw = json.loads(cpath.read_text(encoding="utf-8"))
    if isinstance(corpus_raw, list):  # [{"title", "text"|"sentences"}]
        corpus_raw = {d["title"]: d.get("sentences", d.get("text", "")) for d in corpus_raw}
    corpus_dir = out / "corpus"
    (corpus_dir / "passages").mkdir(parents=True, exist_ok=True)
    files: dict[str, tuple[str, list[tuple[int, int]]]] = {}
    for title, value in corpus_raw.items():
        files[title] = write_passage(corpus_dir, title, _sentences(value))

    examples: list[Example] = []
    for n, q in enumerate(questions):
        where = f"{qpath}[{n}]"
        qid = str(q.get("_id", q.get("id", n)))
        if "paragraphs" in q:  # MuSiQue style
            facts = [(p["title"], None) for p in q["paragraphs"] if p.get("is_supporting")]
            for p in q["paragraphs"]:
                if p["title"] not in files:
                    files[p["title"]] = write_passage(corpus_dir, p["title"], [p["paragraph_text"]])
        else:
            facts = [(t, i) for t, i in q.get("supporting_facts", [])]
        evidence: list[Evidence] = []
        for title, sent in facts:
            if title not in files:
                raise DatasetError(f"{where}: supporting fact title {title!r} is not in {cpath}")
            rel, spans = files[title]
            seg = None
            if sent is not None:
                if not 0 <= sent < len(spans):
                    raise DatasetError(f"{where}: sentence {sent} out of range for {title!r} ({len(spans)} sentences)")
                seg = spans[sent]
            evidence.append(Evidence(rel, None, seg, None))
        answers = [q["answer"]] + list(q.get("answer_aliases", []))
        examples.append(Example(
            id=qid, question=q["question"], answers=answers, answer_format="str", evidence=evidence,
            category=q.get("type"),
            meta={"level": q.get("level"), "supporting_titles": sorted({t for t, _ in facts})},
        ))
    ds = Dataset(name, examples, corpus_dir.resolve(), "qa",
                 "HotpotQA distractor questions over their passage corpus (one file per passage)",
                 meta={"source": str(src)})
    ds.path = write_dataset(out / f"{name}.jsonl", ds)
    return ds
