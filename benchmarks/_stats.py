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


def machine() -> dict[str, Any]:
    """The CPU a timing was taken on: the same code runs ~3.5× slower on a 2-core AVX2 EPYC than on an
    AVX-512 one, so a figure without its machine cannot be compared."""
    import os
    import platform
    from pathlib import Path

    flags: set[str] = set()
    model = platform.processor() or platform.machine()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:  # not Linux: the platform's name, no flags
        cpuinfo = []
    for line in cpuinfo:
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        elif key.strip() == "flags":
            flags = set(value.split())
            break
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)),
            "simd": "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other",
            "vnni": "avx512_vnni" in flags or "avx_vnni" in flags}
