"""The in-process exact index behind the embedded store: PolarMem's lexicographic order, certified exact."""

from __future__ import annotations

from vimrag.index.core import PolarIndex

__all__ = ["PolarIndex"]
