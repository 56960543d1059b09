"""PolarMem: polarized multimodal memory (partition, concepts, query parsing, logic, retrieval).

The exact index that evaluates its order inside the embedded store is :mod:`vimrag.index`."""

from __future__ import annotations

from vimrag.polar.logic import explain, lexicographic_rank, logic_state
from vimrag.polar.partition import anchored_otsu, partition

__all__ = ["anchored_otsu", "explain", "lexicographic_rank", "logic_state", "partition"]
