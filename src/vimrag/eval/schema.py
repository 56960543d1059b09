"""The evaluation dataset schema: one JSON object per line (JSONL), plus a corpus folder to ingest.

Every benchmark the harness runs is first converted to this one format, so methods, metrics and reports
never see a benchmark's own layout. A line looks like::

    {"id": "5a8b57f25542995d1e6f1371",
     "question": "Were Scott Derrickson and Ed Wood of the same nationality?",
     "answers": ["yes"],                       # accepted answers (any one is right); a list answer is a list
     "options": null,                          # MCQ choices ["...", "..."], answers then hold the right choice
     "answer_format": "str",                   # str | int | float | list | none ("none" = not answerable)
     "evidence": [{"source": "passages/Scott_Derrickson.txt", "page": null,
                   "segment": [0, 112], "image": null}],
     "category": "comparison",                 # breakdown key (e.g. MMLongBench evidence source), or null
     "meta": {}}                               # anything else (doc id, POPE setting, negative images ...)

``evidence.source`` is a path relative to the corpus folder. ``page`` is 1-based (as :class:`vimrag.types.
Locator`). ``segment`` is ``[start, end)`` in the source's natural unit: characters for text, seconds for
video. ``image`` is an image id (the file stem) when the evidence is a whole image.

Beside ``<name>.jsonl`` a ``<name>.meta.json`` describes the dataset: ``{"name", "task", "corpus",
"description", "source"}``. ``task`` decides the metrics: ``qa`` (generate an answer), ``pope`` (yes/no
about one image) or ``retrieval`` (rank the corpus; the answer is not scored). ``corpus`` is the folder to
ingest, absolute or relative to the JSONL file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vimrag.errors import VimragError

ANSWER_FORMATS = ("str", "int", "float", "list", "none")
TASKS = ("qa", "pope", "retrieval")


class DatasetError(VimragError):
    """A dataset file or a line of it does not follow the schema; the message names the file and line."""


@dataclass(frozen=True)
class Evidence:
    """One piece of gold evidence: a file of the corpus and, optionally, where in it."""

    source: str
    page: int | None = None
    segment: tuple[float, float] | None = None
    image: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "page": self.page,
                "segment": list(self.segment) if self.segment is not None else None, "image": self.image}


@dataclass
class Example:
    """One evaluation question with its accepted answers and gold evidence."""

    id: str
    question: str
    answers: list[Any]
    options: list[str] | None = None
    answer_format: str = "str"
    evidence: list[Evidence] = field(default_factory=list)
    category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = [e.to_dict() for e in self.evidence]
        return d

    @property
    def answerable(self) -> bool:
        return self.answer_format != "none"


@dataclass
class Dataset:
    """A loaded dataset: its examples, the corpus folder to ingest and what kind of task it is."""

    name: str
    examples: list[Example]
    corpus: Path | None = None
    task: str = "qa"
    description: str = ""
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)


def _fail(where: str, msg: str) -> DatasetError:
    return DatasetError(f"{where}: {msg}")


def parse_example(obj: Any, where: str = "<example>") -> Example:
    """Validate one decoded JSON object and build an :class:`Example`.

    ``"answer": x`` is accepted as shorthand for ``"answers": [x]`` so users' own files stay short.
    """
    if not isinstance(obj, dict):
        raise _fail(where, f"expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "question"):
        if key not in obj:
            raise _fail(where, f"missing required field {key!r}")
    if not isinstance(obj["question"], str) or not obj["question"].strip():
        raise _fail(where, "'question' must be a non-empty string")
    if "answers" in obj:
        answers = obj["answers"]
    elif "answer" in obj:
        answers = [obj["answer"]]
    else:
        answers = []
    if not isinstance(answers, list):
        raise _fail(where, f"'answers' must be a list, got {type(answers).__name__}")
    options = obj.get("options")
    if options is not None and (not isinstance(options, list) or not all(isinstance(o, str) for o in options)):
        raise _fail(where, "'options' must be null or a list of strings")
    fmt = str(obj.get("answer_format") or "str").lower()
    if fmt not in ANSWER_FORMATS:
        raise _fail(where, f"'answer_format' must be one of {ANSWER_FORMATS}, got {fmt!r}")
    evidence: list[Evidence] = []
    raw_ev = obj.get("evidence") or []
    if not isinstance(raw_ev, list):
        raise _fail(where, "'evidence' must be a list")
    for j, e in enumerate(raw_ev):
        w = f"{where}: evidence[{j}]"
        if not isinstance(e, dict) or not isinstance(e.get("source"), str) or not e["source"]:
            raise DatasetError(f"{w}: needs a non-empty 'source' (path relative to the corpus)")
        page = e.get("page")
        if page is not None and (not isinstance(page, int) or isinstance(page, bool) or page < 1):
            raise DatasetError(f"{w}: 'page' must be a 1-based integer or null, got {page!r}")
        seg = e.get("segment")
        if seg is not None:
            if (not isinstance(seg, list) or len(seg) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seg)
                    or seg[1] < seg[0]):
                raise DatasetError(f"{w}: 'segment' must be [start, end] with start <= end, got {seg!r}")
            seg = (seg[0], seg[1])
        image = e.get("image")
        if image is not None and not isinstance(image, str):
            raise DatasetError(f"{w}: 'image' must be a string id or null")
        evidence.append(Evidence(e["source"], page, seg, image))
    category = obj.get("category")
    if category is not None and not isinstance(category, str):
        raise _fail(where, "'category' must be a string or null")
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise _fail(where, "'meta' must be an object")
    return Example(str(obj["id"]), obj["question"], answers, options, fmt, evidence, category, meta)


def read_examples(path: str | Path) -> list[Example]:
    """Read and validate a JSONL file; every bad line is reported (file:line), none is silently dropped."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"{p}: dataset file not found")
    examples: list[Example] = []
    errors: list[str] = []
    seen: set[str] = set()
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{p}:{n}"
            try:
                ex = parse_example(json.loads(line), where)
            except json.JSONDecodeError as exc:
                errors.append(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            except DatasetError as exc:
                errors.append(str(exc))
                continue
            if ex.id in seen:
                errors.append(f"{where}: duplicate id {ex.id!r}")
                continue
            seen.add(ex.id)
            examples.append(ex)
    if errors:
        more = f"\n... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise DatasetError(f"{len(errors)} invalid line(s) in {p}:\n" + "\n".join(errors[:10]) + more)
    return examples


def write_examples(path: str | Path, examples: Iterable[Example]) -> int:
    """Write examples as JSONL atomically (a temp file renamed), so a crash never leaves half a dataset."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(p)
    return n


def write_dataset(jsonl: str | Path, dataset: Dataset) -> Path:
    """Write ``<name>.jsonl`` and its ``<name>.meta.json`` sidecar."""
    p = Path(jsonl)
    write_examples(p, dataset.examples)
    meta = {"name": dataset.name, "task": dataset.task, "description": dataset.description,
            "corpus": str(dataset.corpus) if dataset.corpus is not None else None, **dataset.meta}
    sidecar_path(p).write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    return p


def sidecar_path(jsonl: Path) -> Path:
    return jsonl.with_name(jsonl.name.removesuffix(".jsonl") + ".meta.json")


def load_jsonl_dataset(path: str | Path, name: str | None = None) -> Dataset:
    """Load a JSONL dataset and its sidecar. Without a sidecar, a sibling ``corpus/`` folder is the corpus."""
    p = Path(path)
    examples = read_examples(p)
    side = sidecar_path(p)
    info: dict[str, Any] = {}
    if side.is_file():
        try:
            info = json.loads(side.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{side}: invalid JSON ({exc})") from exc
    task = info.get("task", "qa")
    if task not in TASKS:
        raise DatasetError(f"{side}: 'task' must be one of {TASKS}, got {task!r}")
    corpus: Path | None = None
    if info.get("corpus"):
        corpus = Path(info["corpus"])
        if not corpus.is_absolute():
            corpus = (p.parent / corpus).resolve()
    elif (p.parent / "corpus").is_dir():
        corpus = (p.parent / "corpus").resolve()
    if corpus is not None and not corpus.is_dir():
        raise DatasetError(f"{p}: corpus folder {corpus} does not exist")
    extra = {k: v for k, v in info.items() if k not in {"name", "task", "corpus", "description"}}
    return Dataset(name or info.get("name") or p.stem, examples, corpus, task, info.get("description", ""), p, extra)
