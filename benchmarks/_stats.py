"""Shared row statistics for the search benchmarks: wall and CPU latency percentiles and recall."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def latency_row(wall_ms: Sequence[float], cpu_ms: Sequence[float], recalls: Sequence[float]) -> dict[str, Any]:
    """p50/p95 of wall and CPU time (ms), mean and minimum recall@10, rounded for the JSON tables."""
    return {
        "p50_ms": round(float(np.percentile(wall_ms, 50)), 3),
        "p95_ms": round(float(np.percentile(wall_ms, 95)), 3),
        "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 3),
        "cpu_p95_ms": round(float(np.percentile(cpu_ms, 95)), 3),
        "recall_at_10": round(float(np.mean(recalls)), 4),
        "min_recall": round(float(np.min(recalls)), 4),
    }
