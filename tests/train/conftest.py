"""Fixtures of the train tests."""

from __future__ import annotations

from typing import Any

import pytest

from ._trajbuild import node, step, traj


@pytest.fixture
def dead_end_traj() -> dict[str, Any]:
    """root → n1 → n3 (answer); n2 is a dead end off the root. Node 1 holds an item memorized with p=4."""
    nodes = [node(0, []), node(1, [0], scores=[4, 2]), node(2, [0], scores=[1]), node(3, [1], scores=[5])]
    steps = [
        step(0, "retrieve", 1), step(1, "memorize", 1),
        step(2, "retrieve", 2), step(3, "memorize", 2),
        step(4, "retrieve", 3), step(5, "memorize", 3),
        step(6, "answer", 3),
    ]
    return traj(nodes, steps, 3)
