"""Evaluation: datasets in one JSONL schema, the papers' metrics, methods on shared backends, reports.

``run_eval("hotpotqa-100", ["dense", "polar", "vimrag"], limit=30)`` runs a resumable evaluation and writes
``results.json``, ``report.md`` and ``report.html`` into the run directory; ``vimrag eval`` calls
:func:`cli_eval`. See ``docs/eval.md``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Dataset", "EvalResult", "Example", "Prediction", "cli_eval", "resolve_dataset", "run_eval"]


def __getattr__(name: str) -> Any:  # lazy: importing vimrag.eval stays cheap
    if name in ("run_eval", "cli_eval", "EvalResult"):
        from vimrag.eval import harness

        return getattr(harness, name)
    if name in ("Dataset", "Example"):
        from vimrag.eval import schema

        return getattr(schema, name)
    if name == "Prediction":
        from vimrag.eval.methods import Prediction

        return Prediction
    if name == "resolve_dataset":
        from vimrag.eval.datasets import resolve_dataset

        return resolve_dataset
    raise AttributeError(name)
