"""Users' own data: a folder of files to ingest and a questions file in the eval schema.

Layout::

    mydata/
      questions.jsonl      # one Example per line (see vimrag.eval.schema); "answer": "x" is accepted too
      corpus/              # the files to ingest (text, PDFs, images, videos); evidence sources are relative to it

If there is no ``corpus/`` subfolder, every other file of ``mydata/`` is the corpus. ``questions.json``
(a JSON list of the same objects) works as well. A ``questions.meta.json`` sidecar may set ``task``.
"""

from __future__ import annotations

import json
from pathlib import Path

from vimrag.eval.schema import Dataset, DatasetError, load_jsonl_dataset, parse_example


def load_folder(path: str | Path, name: str | None = None) -> Dataset:
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    jsonl, js = root / "questions.jsonl", root / "questions.json"
    if jsonl.is_file():
        ds = load_jsonl_dataset(jsonl, name or root.name)
    elif js.is_file():
        try:
            rows = json.loads(js.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{js}: invalid JSON ({exc})") from exc
        if not isinstance(rows, list):
            raise DatasetError(f"{js}: expected a JSON list of questions")
        examples = [parse_example(r, f"{js}[{i}]") for i, r in enumerate(rows)]
        ids = [e.id for e in examples]
        if len(set(ids)) != len(ids):
            raise DatasetError(f"{js}: question ids are not unique")
        ds = Dataset(name or root.name, examples, None, "qa", path=js)
    else:
        raise DatasetError(f"{root}: expected questions.jsonl (or questions.json) in the folder")
    if ds.corpus is None:
        ds.corpus = (root / "corpus").resolve() if (root / "corpus").is_dir() else root.resolve()
    return ds
