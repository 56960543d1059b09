"""The demo's seven questions, answered by the real default model: each right, complete and cited (issue 13).

This is ``make demo`` as a user runs it (``vimrag demo --json``: assemble the corpus, ingest it with the
embedded perceivers, ask with the 1.5B policy), checked by :func:`vimrag.demo.check.check`: every part of
the answer, and a citation of the answer-bearing file with its page or time span.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vimrag.demo.check import check
from vimrag.demo.corpus import demo_questions
from vimrag.errors import ModelUnavailableError
from vimrag.models.registry import resolve_model_file

pytestmark = pytest.mark.slow


def test_demo_answers_right_and_cited(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp", reason="pip install 'vimrag[local]'")
    pytest.importorskip("fpdf")
    try:
        resolve_model_file("qwen2.5-coder-1.5b")
    except ModelUnavailableError as exc:
        pytest.skip(f"the default model is not installed: {exc}")
    env = {**os.environ, "VIMRAG_CACHE_DIR": str(tmp_path / "cache")}
    res = subprocess.run(
        [sys.executable, "-m", "vimrag", "demo", "--dest", str(tmp_path / "corpus"), "--store",
         str(tmp_path / "store"), "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    answers = json.loads(res.stdout)
    questions = demo_questions()
    assert [a["question"] for a in answers] == [q["question"] for q in questions]
    report = {q["id"]: (a["answer"], [c["source"].rsplit("/", 1)[-1] for c in a["citations"]], check(q, a))
              for q, a in zip(questions, answers, strict=True)}
    wrong = {k: v for k, v in report.items() if not (v[2]["right"] and v[2]["cited"])}
    assert not wrong, f"answers not right or not cited: {wrong}"
    assert all(a["right"] and a["cited"] for a in answers)  # the JSON says so too
