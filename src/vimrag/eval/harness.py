"""The evaluation harness: run methods over a dataset on shared backends, resumably, then report.

``run_eval`` appends every prediction to ``<run>/predictions.jsonl`` (flushed and fsynced) the moment it
exists. A killed run started again with the same ``out_dir`` skips every (method, id) already there and
continues; predictions that ended in an error are retried. Scores are computed afterwards from the file.

Fairness: all methods share one :class:`~vimrag.eval.methods.Backends` (one memory over one ingested
corpus, one LLM, one config: same ``agent.top_k``, ``max_steps``, ``max_tokens``, same seed).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vimrag.config import Config, StoreConfig, load_config
from vimrag.errors import ConfigError, VimragError
from vimrag.eval.methods import AGENT_METHODS, Backends, EvalMethod, Prediction, build_method
from vimrag.eval.schema import Dataset, DatasetError, Example
from vimrag.eval.scoring import aggregate, headline_metrics
from vimrag.progress import ProgressBar

PREDICTIONS = "predictions.jsonl"
MANIFEST = "run.json"


@dataclass
class EvalResult:
    """What a run produced: aggregated scores and where the files are."""

    run_dir: Path
    dataset: str
    task: str
    methods: list[str]
    n_examples: int
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    by_category: dict[str, Any] = field(default_factory=dict)
    by_evidence_source: dict[str, Any] = field(default_factory=dict)
    process: dict[str, dict[str, float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    headline: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def read_predictions(path: Path) -> list[Prediction]:
    """Read predictions, tolerating a torn last line (a kill mid-write): it is ignored and redone."""
    out: list[Prediction] = []
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            out.append(Prediction.from_json(json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue
    return out


def _append(path: Path, pred: Prediction) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(pred.to_json(), ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _repair_tail(path: Path) -> None:
    """End a torn last line (a kill mid-write) with a newline, so the next record starts on its own line."""
    if path.is_file() and path.stat().st_size:
        with path.open("rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")


def _latest(preds: Sequence[Prediction]) -> list[Prediction]:
    """The last record per (method, id): a retried error is superseded by its retry."""
    last: dict[tuple[str, str], Prediction] = {}
    for p in preds:
        last[(p.method, p.id)] = p
    return list(last.values())


# Query-time PolarMem settings left out of the store key (older query-time keys stay in it so that existing
# cached stores keep their names).
_QUERY_TIME_POLAR = ("strict_negation",)


def _store_key(cfg: Config, dataset: Dataset, files: Sequence[Path] | None = None) -> str:
    """Stores are shared between runs of one dataset with the same models / perception / ingest settings
    (and, for ``corpus_scope="evidence"``, the same subset of corpus files)."""
    polar = dict(cfg.to_dict()["polar"])
    for query_time in _QUERY_TIME_POLAR:  # they change ranking, not what is stored
        polar.pop(query_time, None)
    blob = json.dumps([dataset.name, str(dataset.corpus), cfg.to_dict()["models"], polar,
                       cfg.to_dict()["ingest"]], sort_keys=True, default=str)
    if files is not None:
        blob += json.dumps(sorted(p.name for p in files))
        return f"{dataset.name}-subset-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"
    return f"{dataset.name}-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"


CORPUS_SCOPES = ("all", "evidence")


def evidence_files(dataset: Dataset, examples: Sequence[Example]) -> list[Path]:
    """The corpus files named by the gold evidence of ``examples`` (for ``corpus_scope="evidence"``)."""
    if dataset.corpus is None or not Path(dataset.corpus).is_dir():
        raise ConfigError(f"{dataset.name}: corpus scope 'evidence' needs a corpus folder")
    root = Path(dataset.corpus)
    by_name = {p.name: p for p in root.rglob("*") if p.is_file()}
    files = {by_name[Path(e.source).name] for ex in examples for e in ex.evidence if Path(e.source).name in by_name}
    if not files:
        raise ConfigError(f"{dataset.name}: no corpus file is named by the selected questions' evidence")
    return sorted(files)


def default_backends(dataset: Dataset, config: Config, run_dir: Path, methods: Sequence[str],
                     k: int = 10, files: Sequence[Path] | None = None) -> Backends:
    """Open (or build) the memory of the dataset's corpus and the LLM, shared by every method.

    If ``store.uri`` is left at its default, the eval uses its own store under the eval cache, keyed by
    dataset and model settings, so the user's ``./.vimrag`` is never touched and ingest is paid once.
    ``files`` ingests only those corpus files (a quick run over the documents its questions need: fewer
    distractors than the full corpus, so its retrieval scores are not comparable with a full run's).
    """
    from vimrag.eval.datasets import default_cache_dir

    cfg = config.with_overrides({"agent.trajectories_dir": str(run_dir / "trajectories")})
    if cfg.store.uri == StoreConfig().uri:
        cfg = cfg.with_overrides(
            {"store.uri": str(default_cache_dir() / "stores" / _store_key(cfg, dataset, files))})
    needs_memory = any(m != "none" for m in methods)
    memory = None
    if needs_memory:
        from vimrag import Memory

        memory = Memory(cfg)
        if dataset.corpus is not None:
            report = memory.add(list(files) if files is not None else [dataset.corpus], progress=True)
            failed = getattr(report, "failed", [])
            if failed:
                print(f"[eval] {len(failed)} corpus file(s) failed to ingest; first: {failed[0].path}: "
                      f"{failed[0].reason}", file=sys.stderr)
    needs_llm = dataset.task == "qa" or "none" in methods
    llm = None
    if needs_llm:
        if memory is not None:
            llm = memory.llm
        else:
            from vimrag.models.factory import make_llm

            llm = make_llm(cfg.models.llm, cfg.models)
    return Backends(cfg, memory, llm, dataset.corpus, run_dir / "trajectories", k)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass


def run_eval(
    dataset: str | Path | Dataset,
    methods: Sequence[str | EvalMethod],
    limit: int | None = None,
    out_dir: str | Path | None = None,
    config: Config | None = None,
    *,
    resume: bool = True,
    seed: int = 0,
    k: int = 10,
    backends: Backends | None = None,
    progress: bool = True,
    report: bool = True,
    data_root: str | Path | None = None,
    on_prediction: Callable[[Prediction], None] | None = None,
    corpus_scope: str = "all",
) -> EvalResult:
    """Run ``methods`` on the first ``limit`` examples of ``dataset``; write predictions, results and a report.

    ``methods`` are names (see :data:`~vimrag.eval.methods.METHOD_NAMES`) or ready :class:`EvalMethod` objects
    (tests inject fakes). ``backends`` may be given; otherwise :func:`default_backends` builds them, only if
    a named method needs them. With ``resume`` (default) an existing run directory is continued; without
    it, its old predictions are kept aside as ``predictions.<time>.jsonl`` and the run starts over.
    ``corpus_scope="evidence"`` ingests only the corpus files the selected questions' evidence names.
    """
    from vimrag.eval.datasets import resolve_dataset

    ds = dataset if isinstance(dataset, Dataset) else resolve_dataset(dataset, data_root=data_root)
    cfg = (config or load_config()).with_overrides({"models.seed": seed})
    _seed_everything(seed)
    examples = ds.examples[:limit] if limit else list(ds.examples)
    if corpus_scope not in CORPUS_SCOPES:
        raise ConfigError(f"corpus scope must be one of {', '.join(CORPUS_SCOPES)}, got {corpus_scope!r}")
    files = evidence_files(ds, examples) if corpus_scope == "evidence" else None
    names = [m if isinstance(m, str) else m.name for m in methods]
    if len(set(names)) != len(names):
        raise ConfigError(f"methods listed twice: {names}")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(out_dir) if out_dir else Path("runs") / f"eval-{ds.name}-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    pred_path = run_dir / PREDICTIONS
    man_path = run_dir / MANIFEST
    if man_path.is_file() and resume:
        old = json.loads(man_path.read_text())
        if old.get("dataset") != ds.name:
            raise DatasetError(f"{run_dir} holds a run of {old.get('dataset')!r}, not {ds.name!r}; use another --out")
    if not resume and pred_path.is_file():
        pred_path.rename(run_dir / f"predictions.{stamp}.jsonl")
    manifest = {"dataset": ds.name, "task": ds.task, "dataset_path": str(ds.path) if ds.path else None,
                "corpus": str(ds.corpus) if ds.corpus else None, "methods": names, "limit": limit, "seed": seed,
                "k": k, "corpus_scope": corpus_scope, "corpus_files": [p.name for p in files] if files else None,
                "config": cfg.to_dict(), "updated": stamp}
    man_path.write_text(json.dumps(manifest, indent=2, default=str))

    _repair_tail(pred_path)
    previous = read_predictions(pred_path)
    done = {(p.method, p.id) for p in _latest(previous) if not p.error}

    # Build methods (and the shared backends only when some named method needs them).
    skipped: dict[str, str] = {}
    pending_names = [n for n in names if any((n, e.id) not in done for e in examples)]
    if backends is None and any(isinstance(m, str) for m in methods) and pending_names:
        backends = default_backends(ds, cfg, run_dir, [n for n in names if n in pending_names], k, files)
    built: list[EvalMethod] = []
    for m in methods:
        if isinstance(m, str):
            if m not in pending_names:
                continue
            assert backends is not None
            m = build_method(m, backends)
        if ds.task not in m.tasks:
            skipped[m.name] = f"does not apply to {ds.task} datasets"
            continue
        built.append(m)

    # question-major: a run stopped part-way has every method on the same questions, so it still compares
    todo = [(m, e) for e in examples for m in built if (m.name, e.id) not in done]
    with ProgressBar("eval", progress, len(todo)) as bar:
        for m, ex in todo:
            bar.start(f"{m.name} · {ex.id}")
            t0 = time.perf_counter()
            try:
                pred = m.run(ex)
            except VimragError:
                raise  # a missing model or dead server: stop, the run is resumable
            except Exception as exc:  # one bad example must not end a long run; recorded and retried on resume
                pred = Prediction(error=f"{type(exc).__name__}: {exc}")
            pred.seconds = pred.seconds or round(time.perf_counter() - t0, 4)
            pred.method, pred.id = m.name, ex.id
            pred.rss_peak_mb = round(peak_rss_mb(), 1)
            _append(pred_path, pred)
            if on_prediction is not None:
                on_prediction(pred)
            bar.advance()

    preds = [p for p in _latest(read_predictions(pred_path)) if p.method in names]
    ids = {e.id for e in examples}
    preds = [p for p in preds if p.id in ids]
    agg = aggregate(ds, preds, names)
    result = EvalResult(
        run_dir=run_dir, dataset=ds.name, task=ds.task, methods=names, n_examples=len(examples),
        scores=agg["scores"], by_category=agg["by_category"], by_evidence_source=agg["by_evidence_source"],
        process=agg["process"], skipped=skipped, headline=headline_metrics(ds.task, str(ds.meta.get("scoring", ""))),
        meta={"seed": seed, "limit": limit, "k": k, "description": ds.description,
              "agents": [n for n in names if n in AGENT_METHODS]},
    )
    if report:
        from vimrag.eval.report import write_report

        result.files = write_report(result, agg["per_example"])
    return result


def cli_eval(
    dataset: str,
    methods: Sequence[str],
    limit: int | None = None,
    out_dir: str | Path | None = None,
    config: Config | None = None,
    console: Any = None,
    *,
    resume: bool = True,
    seed: int = 0,
    k: int = 10,
    as_json: bool = False,
    corpus_scope: str = "all",
) -> EvalResult:
    """What ``vimrag eval`` does: run, print the headline table, say where the report is."""
    from rich.console import Console
    from rich.table import Table

    con = console or Console()
    res = run_eval(dataset, list(methods), limit, out_dir, config, resume=resume, seed=seed, k=k,
                   corpus_scope=corpus_scope)
    if as_json:
        con.print_json(json.dumps(res.to_json(), default=str))
        return res
    table = Table(title=f"{res.dataset} · {res.n_examples} examples")
    table.add_column("method")
    for h in res.headline:
        table.add_column(h, justify="right")
    table.add_column("tokens/q", justify="right")
    table.add_column("s/q", justify="right")
    for m, sc in res.scores.items():
        pr = res.process.get(m, {})
        table.add_row(m, *[f"{sc[h]:.3f}" if h in sc else "–" for h in res.headline],
                      f"{pr.get('tokens', 0):.0f}", f"{pr.get('seconds', 0):.2f}")
    con.print(table)
    for m, why in res.skipped.items():
        con.print(f"[yellow]skipped {m}: {why}")
    for name, path in res.files.items():
        con.print(f"{name}: {path}")
    return res
