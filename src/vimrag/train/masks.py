"""GGPO's graph-guided pruning mask (VimRAG §3.3).

The paper defines, for step t of a trajectory with outcome reward r ∈ {0, 1} and memory-graph node v_t,

    μ_t = 1[r = 1] · 1[v_t ∉ P_ans]  +  1[r = 0] · 1[v_t ∈ R_val]

where P_ans is the set of nodes on the path from the root to the answer node and R_val the set of
retrievals that returned relevant evidence. μ_t = 1 removes step t from the policy gradient:
*dead ends in positive trajectories* are not reinforced, *valuable retrievals in negative trajectories*
are not punished. Everything else gets the trajectory's group-normalized advantage as in GSPO.

Interpretations made here (the paper leaves them open):

- **P_ans** is the union of all root→answer paths in the DAG: the answer node, its ancestors through
  ``parents``, restricted to nodes that themselves descend from the root (node 0). With several parents
  a node may lie on several paths; all count.
- **R_val** is a set of *nodes*: the node created by a ``retrieve`` step belongs to it when one of its
  retrieved/bank items is gold evidence (``gold_evidence``) or was memorized with score p ≥
  ``score_threshold`` (the agent's own memorize judgement, VimRAG's "semantic score"). Repeated
  retrievals (``repeat: true``) are never valuable: the same evidence was already found, and the
  redundancy is exactly what training should discourage.
- **v_t** per action: ``retrieve`` → the node it created; ``memorize`` → the node it perceived (so
  perceiving a dead end in a positive trajectory is pruned, and perceiving a valuable node in a negative
  one is protected, by the same formula); ``answer`` → the answer node. The answer step is *never*
  pruned: in a positive trajectory its node is on P_ans by definition, and in a negative one it is the
  step that produced the wrong answer, which is not a "retrieval" even if its node is valuable.
  ``invalid`` steps (unparseable output), steps without a node and *repeated* retrievals (the agent
  records the earlier node they duplicate, but they create nothing) have no v_t: they are ∉ P_ans and
  ∉ R_val, so the formula prunes them in positives (a redundant action is not rewarded) and keeps them
  in negatives (punished).
- **No answer node** (``answer_node`` null and no answer step with a node): P_ans is unknown, so
  nothing is pruned as a dead end (falling back to GSPO for that trajectory) instead of guessing.
- Steps with no policy completion are not trainable at all (see :mod:`vimrag.train.segment`); their
  mask entry still follows the formula so that the list aligns with ``steps``.
- Intermediate rewards r ∈ (0, 1) (F1/ANLS scores without threshold) are binarised at 0.5 here.

The function works on the JSON dict of the trajectory contract (``Trajectory.to_json()``), so it does not
depend on the agent's classes; an object with ``to_json()`` is accepted too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from vimrag.agent.graph import answer_path
from vimrag.errors import TrajectoryError

ROOT = 0


def as_trajectory_dict(trajectory: Any) -> dict[str, Any]:
    """The JSON dict form of a trajectory: a dict as is, or ``obj.to_json()`` / ``obj.to_dict()``."""
    if isinstance(trajectory, Mapping):
        return dict(trajectory)
    for attr in ("to_json", "to_dict"):
        fn = getattr(trajectory, attr, None)
        if callable(fn):
            out = fn()
            if isinstance(out, str):
                import json

                out = json.loads(out)
            if isinstance(out, Mapping):
                return dict(out)
    raise TrajectoryError(
        f"expected a trajectory dict or an object with to_json(), got {type(trajectory).__name__}"
    )


def _node_parents(traj: Mapping[str, Any]) -> dict[int, list[int]]:
    nodes = traj.get("nodes")
    if not isinstance(nodes, list):
        raise TrajectoryError("trajectory has no 'nodes' list")
    parents: dict[int, list[int]] = {}
    for n in nodes:
        try:
            parents[int(n["id"])] = [int(p) for p in n.get("parents", []) or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise TrajectoryError(f"malformed node {n!r}: {exc}") from exc
    return parents


def answer_node(traj: Mapping[str, Any]) -> int | None:
    """The answering node: ``answer_node``, else the ``node`` of the last ``answer`` step, else None."""
    if traj.get("answer_node") is not None:
        return int(traj["answer_node"])
    for step in reversed(traj.get("steps", []) or []):
        if step.get("action") == "answer" and step.get("node") is not None:
            return int(step["node"])
    return None


def answer_path_nodes(trajectory: Any) -> set[int] | None:
    """P_ans: nodes on any root→answer path of the memory DAG, or None when there is no answer node."""
    traj = as_trajectory_dict(trajectory)
    parents = _node_parents(traj)
    target = answer_node(traj)
    if target is None:
        return None
    return answer_path(parents, target, ROOT)


def _gold_matches(item: Mapping[str, Any], gold: list[Any]) -> bool:
    ident = str(item.get("item_id", item.get("id", "")))
    source = str(item.get("source", ""))
    base = os.path.basename(source)
    stem = os.path.splitext(base)[0]
    locator = item.get("locator") or {}
    for g in gold:
        if isinstance(g, Mapping):
            gs = str(g.get("source", ""))
            if gs and gs not in (source, base, stem):
                continue
            if g.get("item_id") and str(g["item_id"]) != ident:
                continue
            if g.get("page") is not None and locator.get("page") != g.get("page"):
                continue
            if gs or g.get("item_id"):
                return True
        elif str(g) in (ident, source, base, stem) and str(g):
            return True
    return False


def valuable_nodes(
    trajectory: Any, *, score_threshold: float = 3, gold_evidence: Iterable[Any] | None = None
) -> set[int]:
    """R_val as a node set: retrieve-step nodes with gold evidence or an item memorized with p ≥ threshold.

    ``gold_evidence``: item ids, source paths/basenames/stems, or dicts ``{"source", "page", "item_id"}``.
    """
    traj = as_trajectory_dict(trajectory)
    gold = list(gold_evidence or [])
    bank_of = {int(n["id"]): list(n.get("bank", []) or []) for n in traj.get("nodes", [])}
    out: set[int] = set()
    for step in traj.get("steps", []) or []:
        if step.get("action") != "retrieve" or step.get("node") is None or step.get("repeat"):
            continue
        v = int(step["node"])
        bank = bank_of.get(v, [])
        if any(b.get("score") is not None and float(b["score"]) >= score_threshold for b in bank):
            out.add(v)
            continue
        if gold:
            retrieved = [{"id": r.get("id", ""), **r} for r in step.get("retrieved", []) or []]
            if any(_gold_matches(it, gold) for it in [*bank, *retrieved]):
                out.add(v)
    return out


def _step_node(step: Mapping[str, Any]) -> int | None:
    """v_t: the node a step acts on; None for invalid steps and repeated retrievals."""
    if step.get("action") == "invalid" or step.get("node") is None:
        return None
    if step.get("action") == "retrieve" and step.get("repeat"):
        return None
    return int(step["node"])


def ggpo_mask(
    trajectory: Any,
    reward: float,
    *,
    score_threshold: float = 3,
    gold_evidence: Iterable[Any] | None = None,
) -> list[bool]:
    """μ_t for every step of ``trajectory`` (True = excluded from the gradient), VimRAG §3.3.

    μ_t = 1[r=1]·1[v_t ∉ P_ans] + 1[r=0]·1[v_t ∈ R_val]; see the module docstring for what v_t, P_ans and
    R_val mean for each kind of step. ``reward`` is binarised at 0.5.

    Example::

        >>> t = {"nodes": [{"id": 0, "parents": []}, {"id": 1, "parents": [0]}, {"id": 2, "parents": [0]}],
        ...      "steps": [{"action": "retrieve", "node": 1}, {"action": "retrieve", "node": 2},
        ...                {"action": "answer", "node": 2}], "answer_node": 2}
        >>> ggpo_mask(t, 1.0)
        [True, False, False]
    """
    traj = as_trajectory_dict(trajectory)
    steps = traj.get("steps")
    if not isinstance(steps, list):
        raise TrajectoryError("trajectory has no 'steps' list")
    positive = float(reward) >= 0.5
    if positive:
        p_ans = answer_path_nodes(traj)
        out = []
        for step in steps:
            if step.get("action") == "answer" or p_ans is None:
                out.append(False)
                continue
            v = _step_node(step)
            out.append(v is None or v not in p_ans)
        return out
    r_val = valuable_nodes(traj, score_threshold=score_threshold, gold_evidence=gold_evidence)
    out = []
    for step in steps:
        v = _step_node(step)
        valuable = step.get("action") in ("retrieve", "memorize") and v is not None and v in r_val
        out.append(bool(valuable))
    return out
