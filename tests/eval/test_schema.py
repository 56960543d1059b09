from __future__ import annotations

import json
from pathlib import Path

import pytest

from vimrag.eval.datasets import resolve_dataset
from vimrag.eval.datasets.folder import load_folder
from vimrag.eval.schema import (
    Dataset,
    DatasetError,
    Evidence,
    Example,
    load_jsonl_dataset,
    read_examples,
    write_dataset,
)


def _write(p: Path, rows: list[object]) -> Path:
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return p


def test_roundtrip(tmp_path: Path) -> None:
    ex = Example("q1", "Who?", ["Ann", ["a", "b"]], ["Ann", "Bob"], "str",
                 [Evidence("docs/a.pdf", 3, None, None), Evidence("v.mp4", None, (1.5, 4.0), None)], "chart", {"x": 1})
    ds = Dataset("mine", [ex], tmp_path, "qa", "d")
    write_dataset(tmp_path / "mine.jsonl", ds)
    back = load_jsonl_dataset(tmp_path / "mine.jsonl")
    assert back.examples[0].to_dict() == ex.to_dict()
    assert back.corpus == tmp_path and back.task == "qa" and back.name == "mine"


def test_every_bad_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.jsonl", [
        {"id": 1, "question": "ok?", "answers": ["y"]},
        "{not json",
        {"id": 2, "answers": ["y"]},
        {"id": 3, "question": "q", "answer_format": "date"},
        {"id": 4, "question": "q", "evidence": [{"source": "a.pdf", "page": 0}]},
        {"id": 5, "question": "q", "evidence": [{"source": "v.mp4", "segment": [5, 1]}]},
        {"id": 1, "question": "dup"},
    ])
    with pytest.raises(DatasetError) as e:
        read_examples(p)
    msg = str(e.value)
    assert "6 invalid line(s)" in msg
    for line, what in [(2, "invalid JSON"), (3, "'question'"), (4, "answer_format"), (5, "1-based"),
                       (6, "segment"), (7, "duplicate id")]:
        assert f"d.jsonl:{line}" in msg and what in msg


def test_answer_shorthand_and_missing_file(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.jsonl", [{"id": "a", "question": "q?", "answer": "x"}])
    assert read_examples(p)[0].answers == ["x"]
    with pytest.raises(DatasetError, match="not found"):
        read_examples(tmp_path / "nope.jsonl")


def test_folder_format(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Paris is in France.")
    _write(tmp_path / "questions.jsonl", [{"id": "1", "question": "Where is Paris?", "answer": "France",
                                          "evidence": [{"source": "a.txt"}]}])
    ds = load_folder(tmp_path)
    assert ds.corpus == (tmp_path / "corpus").resolve() and ds.examples[0].evidence[0].source == "a.txt"
    assert resolve_dataset(tmp_path).name == tmp_path.name
    with pytest.raises(DatasetError, match="unknown dataset"):
        resolve_dataset("no-such-dataset")
