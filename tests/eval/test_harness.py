"""Harness: resumable runs with a scripted method (the real agents need models), report generation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vimrag.eval.harness import read_predictions, run_eval
from vimrag.eval.methods import Prediction, Retrieved, prediction_from_agent
from vimrag.eval.schema import Dataset, Evidence, Example


class Killed(BaseException):
    """Stands in for SIGKILL / Ctrl-C: not an Exception, so the harness must not swallow it."""


class ScriptedMethod:
    """A test double for a model-backed method: answers from a table, optionally dies at one example."""

    tasks = frozenset({"qa"})

    def __init__(self, name: str, answers: dict[str, str], die_at: str | None = None,
                 flaky: set[str] | None = None) -> None:
        self.name, self.answers, self.die_at, self.flaky = name, answers, die_at, flaky or set()
        self.calls: list[str] = []

    def run(self, example: Example) -> Prediction:
        self.calls.append(example.id)
        if example.id == self.die_at:
            raise Killed()
        if example.id in self.flaky:
            raise RuntimeError("transient failure")
        return Prediction(self.answers.get(example.id, ""),
                          [Retrieved(f"/corpus/{example.id}.txt", {}, "verified", 0.9)],
                          prompt_tokens=100 + len(example.id), completion_tokens=5, steps=2, invalid_retrievals=1)


def _dataset(n: int = 6) -> Dataset:
    exs = [Example(f"q{i}", f"question {i}?", [f"ans {i}"], evidence=[Evidence(f"q{i}.txt")],
                   category="bridge" if i % 2 else "comparison") for i in range(n)]
    return Dataset("toy", exs, None, "qa")


def test_killed_run_continues_where_it_stopped(tmp_path: Path) -> None:
    ds = _dataset()
    good = {f"q{i}": f"ans {i}" for i in range(6)}
    first = ScriptedMethod("alpha", good, die_at="q3")
    with pytest.raises(Killed):
        run_eval(ds, [first], out_dir=tmp_path, progress=False)
    done = read_predictions(tmp_path / "predictions.jsonl")
    assert [p.id for p in done] == ["q0", "q1", "q2"]
    # a torn last line (killed mid-write) is ignored and redone
    with (tmp_path / "predictions.jsonl").open("a") as f:
        f.write('{"method": "alpha", "id": "q3", "answ')
    second = ScriptedMethod("alpha", good)
    beta = ScriptedMethod("beta", {"q0": "wrong"})
    res = run_eval(ds, [second, beta], out_dir=tmp_path, progress=False)
    assert second.calls == ["q3", "q4", "q5"]  # nothing done twice
    assert beta.calls == [f"q{i}" for i in range(6)]
    assert res.scores["alpha"]["em"] == 1.0 and res.scores["beta"]["em"] == 0.0
    assert res.scores["alpha"]["doc_hit@1"] == 1.0
    assert res.process["alpha"]["tokens"] == pytest.approx(sum(105 + len(f"q{i}") for i in range(6)) / 6)
    assert res.process["alpha"]["steps"] == 2 and res.process["alpha"]["invalid_retrievals"] == 1
    assert res.process["alpha"]["peak_rss_mb"] > 0
    assert set(res.by_category["alpha"]) == {"bridge", "comparison"}
    third = ScriptedMethod("alpha", good)
    run_eval(ds, [third], out_dir=tmp_path, progress=False)
    assert third.calls == []


def test_errors_are_recorded_scored_as_wrong_and_retried_on_resume(tmp_path: Path) -> None:
    ds = _dataset(3)
    good = {f"q{i}": f"ans {i}" for i in range(3)}
    res = run_eval(ds, [ScriptedMethod("m", good, flaky={"q1"})], out_dir=tmp_path, progress=False)
    assert res.process["m"]["errors"] == 1 and res.scores["m"]["em"] == pytest.approx(2 / 3)
    retry = ScriptedMethod("m", good)
    res = run_eval(ds, [retry], out_dir=tmp_path, progress=False)
    assert retry.calls == ["q1"] and res.scores["m"]["em"] == 1.0 and res.process["m"]["errors"] == 0


def test_limit_and_fresh_start_keeps_old_predictions(tmp_path: Path) -> None:
    ds = _dataset()
    m = ScriptedMethod("m", {})
    res = run_eval(ds, [m], limit=2, out_dir=tmp_path, progress=False)
    assert m.calls == ["q0", "q1"] and res.n_examples == 2
    m2 = ScriptedMethod("m", {})
    run_eval(ds, [m2], limit=2, out_dir=tmp_path, progress=False, resume=False)
    assert m2.calls == ["q0", "q1"]
    assert len(list(tmp_path.glob("predictions.*.jsonl"))) == 1


def test_report_has_tables_and_embedded_plots(tmp_path: Path) -> None:
    ds = _dataset()
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "polar_search.json").write_text(json.dumps({"rows": [
        {"method": "vectorized", "corpus_size": 10000, "p50_ms": 2.0},
        {"method": "vectorized", "corpus_size": 50000, "p50_ms": 8.0}]}))
    res = run_eval(ds, [ScriptedMethod("a", {"q0": "ans 0"}), ScriptedMethod("b", {})], out_dir=tmp_path / "run",
                   progress=False, report=False)
    from vimrag.eval.report import write_report
    from vimrag.eval.scoring import aggregate

    agg = aggregate(ds, read_predictions(tmp_path / "run" / "predictions.jsonl"), ["a", "b"])
    files = write_report(res, agg["per_example"], bench_dir=bench)
    page = Path(files["report_html"]).read_text()
    assert page.count("<table>") >= 3 and "<td>a</td>" in page and "<td>b</td>" in page
    assert "By category" in page and "Process" in page
    pytest.importorskip("matplotlib")
    assert page.count("data:image/png;base64,") == 4  # scores, categories, tokens, latency
    md = Path(files["report_md"]).read_text()
    assert "| a |" in md and "![tokens](plots/tokens.png)" in md
    results = json.loads(Path(files["results"]).read_text())
    assert results["scores"]["a"]["em"] == pytest.approx(1 / 6)


def test_agent_result_following_the_trajectory_contract(tmp_path: Path) -> None:
    traj = {"version": 1, "question": "q", "method": "vimrag", "nodes": [
        {"id": 0, "parents": [], "query": "q", "summary": "", "step": 0, "bank": []},
        {"id": 1, "parents": [0], "query": "sub", "summary": "s", "step": 1, "bank": [
            {"item_id": "i1", "source": "/c/a.pdf", "locator": {"page": 2}, "modality": "page",
             "state": "verified", "similarity": 0.8, "saliency": True, "score": 4, "keyframes": [], "text": "t"},
            {"item_id": "i2", "source": "/c/b.pdf", "locator": {"page": 1}, "modality": "page",
             "state": "uncertain", "similarity": 0.5, "saliency": False, "score": 1, "keyframes": [], "text": "u"}]}],
        "steps": [], "answer": "42", "answer_node": 1, "citations": [{"source": "/c/b.pdf", "locator": {"page": 1}}],
        "tokens": {"prompt": 900, "completion": 40}, "steps_taken": 3, "invalid_retrievals": 1, "wall_s": 1.0,
        "meta": {}}

    class Result:
        answer = "Answer: 42"
        citations = traj["citations"]
        steps = 3
        tokens = {"prompt": 900, "completion": 40}
        trajectory = traj

    p = prediction_from_agent(Result(), tmp_path, "vimrag", "doc#1")
    assert p.answer == "42" and p.prompt_tokens == 900 and p.steps == 3 and p.invalid_retrievals == 1
    assert [(r.source, r.page) for r in p.retrieved] == [("/c/b.pdf", 1), ("/c/a.pdf", 2)]
    assert p.trajectory and json.loads(Path(p.trajectory).read_text())["answer"] == "42"


def test_unknown_method_and_inapplicable_method(tmp_path: Path) -> None:
    from vimrag.config import Config
    from vimrag.errors import ConfigError
    from vimrag.eval.methods import Backends

    ds = _dataset(2)
    with pytest.raises(ConfigError, match="unknown eval method"):
        run_eval(ds, ["bogus"], out_dir=tmp_path / "a", progress=False, backends=Backends(Config()), report=False)
    pope = Dataset("p", [Example("x", "Is there a dog in the image?", ["yes"], meta={"image": "a.jpg",
                                                                                    "object": "dog"})], None, "pope")
    res = run_eval(pope, [ScriptedMethod("qa-only", {})], out_dir=tmp_path / "b", progress=False, report=False)
    assert "qa-only" in res.skipped and res.scores == {}


def test_evidence_scope_ingests_only_the_named_files(tmp_path) -> None:
    from vimrag.errors import ConfigError
    from vimrag.eval.harness import _store_key, evidence_files, run_eval
    from vimrag.eval.schema import Dataset, Evidence, Example

    corpus = tmp_path / "docs"
    (corpus / "sub").mkdir(parents=True)
    for name in ("a.pdf", "b.pdf", "sub/c.pdf"):
        (corpus / name).write_bytes(b"%PDF-1.4")
    exs = [Example("1", "q1", ["x"], evidence=[Evidence("a.pdf", page=2)]),
           Example("2", "q2", ["y"], evidence=[Evidence("c.pdf"), Evidence("missing.pdf")]),
           Example("3", "q3", ["z"], evidence=[Evidence("b.pdf")])]
    ds = Dataset("docs", exs, corpus=corpus)
    assert [p.name for p in evidence_files(ds, exs[:2])] == ["a.pdf", "c.pdf"]
    from vimrag.config import Config

    cfg = Config()
    full, sub = _store_key(cfg, ds), _store_key(cfg, ds, evidence_files(ds, exs[:2]))
    assert sub != full and sub != _store_key(cfg, ds, evidence_files(ds, exs))  # a subset gets its own store
    with pytest.raises(ConfigError, match="corpus scope"):
        run_eval(ds, ["none"], out_dir=tmp_path / "run", corpus_scope="some")
    with pytest.raises(ConfigError, match="no corpus file"):
        evidence_files(ds, [Example("4", "q", ["x"], evidence=[Evidence("nope.pdf")])])
