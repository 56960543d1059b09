"""The VimRAG agent (VimRAG §3): memory graph, graph-modulated visual budget, baselines, trajectories."""

from __future__ import annotations

from vimrag.agent.budget import Allocation, allocate_tokens, node_value, visual_energy
from vimrag.agent.context import Retriever
from vimrag.agent.graph import BankEntry, MemoryGraph, MemoryNode
from vimrag.agent.loop import AgentLoop, AgentResult
from vimrag.agent.methods import METHODS
from vimrag.agent.trajectory import Trajectory, TrajectoryError

__all__ = [
    "METHODS",
    "AgentLoop",
    "AgentResult",
    "Allocation",
    "BankEntry",
    "MemoryGraph",
    "MemoryNode",
    "Retriever",
    "Trajectory",
    "TrajectoryError",
    "allocate_tokens",
    "node_value",
    "visual_energy",
]
