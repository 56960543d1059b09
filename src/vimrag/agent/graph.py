"""The multimodal memory graph of VimRAG (§3.1): a DAG of reasoning steps and their evidence.

Each node is (parents, sub-query, summary, visual memory bank, step). Node 0 is the root and holds the
question. A node's parents must already exist when it is added, so every edge points from an older node
to a newer one and a cycle cannot be built. Near-duplicate sub-queries are detected here (the paper's
"invalid retrieval") so that the loop never creates a duplicate node.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vimrag.errors import TrajectoryError
from vimrag.models.base import TextEmbedder
from vimrag.types import Item, LogicState


@dataclass
class BankEntry:
    """One retrieved item in a node's visual memory bank, with what ``memorize`` decided about it.

    ``saliency`` is the binary mask u of the memorize action, ``score`` the semantic score p ∈ [1, 5]
    (None until perceived), ``keyframes`` the timestamps kept for a video item.
    """

    item: Item
    state: LogicState
    similarity: float
    saliency: bool = True
    score: int | None = None
    keyframes: list[float] = field(default_factory=list)
    text: str = ""  # the evidence text shown to the policy (``[Fact Check: ...] ...``)

    @property
    def item_id(self) -> str:
        return self.item.id


@dataclass
class MemoryNode:
    id: int
    parents: list[int]
    query: str
    summary: str = ""
    bank: list[BankEntry] = field(default_factory=list)
    step: int = 0

    def salient(self) -> list[tuple[int, BankEntry]]:
        """(1-based index, entry) of the items the saliency mask kept."""
        return [(i, e) for i, e in enumerate(self.bank, start=1) if e.saliency]


_WORD = re.compile(r"[a-z0-9]+")


def normalize_query(text: str) -> str:
    """Case-, punctuation- and word-order-insensitive key: "Who directed Jaws?" == "jaws, who directed"."""
    return " ".join(sorted(set(_WORD.findall(text.lower()))))


class MemoryGraph:
    """A DAG of :class:`MemoryNode`; cycles are impossible because parents always precede children.

    >>> g = MemoryGraph("Who directed Jaws?")
    >>> n = g.add_node("Jaws director", parents=[0], step=1)
    >>> g.out_degree(0), g.path(n.id)
    (1, [0, 1])
    """

    def __init__(self, question: str) -> None:
        self.nodes: list[MemoryNode] = [MemoryNode(0, [], question, step=0)]
        self._children: dict[int, list[int]] = {0: []}
        self._query_vecs: dict[int, np.ndarray] = {}

    @property
    def question(self) -> str:
        return self.nodes[0].query

    @property
    def root(self) -> MemoryNode:
        return self.nodes[0]

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def node(self, node_id: int) -> MemoryNode:
        if not 0 <= node_id < len(self.nodes):
            raise KeyError(f"no node {node_id} in the memory graph (nodes 0..{len(self.nodes) - 1})")
        return self.nodes[node_id]

    def valid_parents(self, parents: Iterable[Any]) -> list[int]:
        """Keep the parent ids that exist (ints or "n2"/"2" strings), deduplicated, in order."""
        out: list[int] = []
        for p in parents:
            try:
                pid = int(str(p).strip().lstrip("nN"))
            except ValueError:
                continue
            if 0 <= pid < len(self.nodes) and pid not in out:
                out.append(pid)
        return out

    def add_node(
        self,
        query: str,
        parents: Iterable[int],
        step: int,
        bank: list[BankEntry] | None = None,
        query_vector: np.ndarray | None = None,
    ) -> MemoryNode:
        """Append a node whose parents are existing nodes (the root if none is valid)."""
        ps = self.valid_parents(parents) or [0]
        node = MemoryNode(len(self.nodes), ps, query, bank=list(bank or []), step=step)
        self.nodes.append(node)
        self._children[node.id] = []
        for p in ps:
            self._children[p].append(node.id)
        if query_vector is not None:
            self._query_vecs[node.id] = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        return node

    def children(self, node_id: int) -> list[int]:
        return list(self._children[node_id])

    def out_degree(self, node_id: int) -> int:
        return len(self._children[node_id])

    def ancestors(self, node_id: int) -> set[int]:
        seen: set[int] = set()
        stack = list(self.node(node_id).parents)
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(self.nodes[n].parents)
        return seen

    def path(self, node_id: int) -> list[int]:
        """A shortest root→node path following parent edges (BFS from the node towards the root)."""
        self.node(node_id)
        if node_id == 0:
            return [0]
        nxt_on_path: dict[int, int | None] = {node_id: None}
        frontier = [node_id]
        while frontier and 0 not in nxt_on_path:
            layer: list[int] = []
            for n in frontier:
                for p in self.nodes[n].parents:
                    if p not in nxt_on_path:
                        nxt_on_path[p] = n
                        layer.append(p)
            frontier = layer
        out: list[int] = []
        cur: int | None = 0
        while cur is not None:
            out.append(cur)
            cur = nxt_on_path[cur]
        return out

    def answer_support(self, node_id: int) -> list[int]:
        """The nodes an answer at ``node_id`` rests on: the node and all its ancestors, in id order."""
        self.node(node_id)
        return sorted(answer_path({n.id: n.parents for n in self.nodes}, node_id))

    def edges(self) -> list[tuple[int, int]]:
        return [(p, n.id) for n in self.nodes for p in n.parents]

    def find_duplicate(
        self, query: str, embedder: TextEmbedder | None = None, threshold: float = 0.92
    ) -> tuple[int | None, np.ndarray | None]:
        """Return (id of an earlier node with the same or a near-duplicate sub-query, query vector).

        Equal normalized text always counts; with an embedder, cosine ≥ ``threshold`` also counts. The
        root question is not compared: searching the question itself first is a legitimate first step.
        """
        key = normalize_query(query)
        for n in self.nodes[1:]:
            if normalize_query(n.query) == key:
                return n.id, None
        if embedder is None:
            return None, None
        vec = np.asarray(embedder.embed([query])[0], dtype=np.float32).reshape(-1)
        best, best_id = -1.0, None
        for nid, v in self._query_vecs.items():
            sim = float(v @ vec / ((np.linalg.norm(v) * np.linalg.norm(vec)) or 1.0))
            if sim > best:
                best, best_id = sim, nid
        if best_id is not None and best >= threshold:
            return best_id, vec
        return None, vec


def answer_path(parents: Mapping[int, Sequence[int]], target: int, root: int = 0) -> set[int]:
    """P_ans: the nodes on any root→``target`` path of a memory DAG given as node → parents.

    The one implementation for the live graph (citations) and stored trajectories (GGPO's masks). Raises
    :class:`~vimrag.errors.TrajectoryError` for an unknown target or parent; a node cut off from the root
    is on no root path, and a cycle (not a DAG) is treated as unreachable rather than looped on.
    """
    if target not in parents:
        raise TrajectoryError(f"answer node {target} is not among the trajectory's nodes")
    ancestors: set[int] = set()
    stack = [target]
    while stack:
        v = stack.pop()
        if v in ancestors:
            continue
        ancestors.add(v)
        for p in parents.get(v, []):
            if p not in parents:
                raise TrajectoryError(f"node {v} has unknown parent {p}")
            stack.append(p)
    reach_root: dict[int, bool] = {}

    def from_root(v: int, seen: frozenset[int] = frozenset()) -> bool:
        if v == root:
            return True
        if v in reach_root:
            return reach_root[v]
        if v in seen:
            return False
        ok = any(from_root(p, seen | {v}) for p in parents.get(v, []))
        reach_root[v] = ok
        return ok

    return {v for v in ancestors if from_root(v)}
