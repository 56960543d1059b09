"""PolarMem: polarized multimodal memory (partition, concepts, query parsing, logic, index, retrieval)."""

from __future__ import annotations

from vimrag.polar.index import PolarIndex
from vimrag.polar.logic import explain, lexicographic_rank, logic_state
from vimrag.polar.partition import anchored_otsu, partition

__all__ = ["PolarIndex", "anchored_otsu", "explain", "lexicographic_rank", "logic_state", "partition"]
