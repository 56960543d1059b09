from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vimrag.errors import TrajectoryError
from vimrag.train.masks import answer_path_nodes, ggpo_mask, valuable_nodes

from ._trajbuild import node, step, traj


def test_positive_with_dead_ends(dead_end_traj):
    # the dead-end retrieval of n2 and its memorize are pruned; the answer path is kept
    assert ggpo_mask(dead_end_traj, 1.0) == [False, False, True, True, False, False, False]
    assert answer_path_nodes(dead_end_traj) == {0, 1, 3}


def test_positive_without_dead_ends():
    nodes = [node(0, []), node(1, [0]), node(2, [1])]
    steps = [step(0, "retrieve", 1), step(1, "memorize", 1), step(2, "retrieve", 2), step(3, "answer", 2)]
    assert ggpo_mask(traj(nodes, steps, 2), 1.0) == [False] * 4


def test_negative_with_valuable_retrievals(dead_end_traj):
    # n1 (p=4 ≥ 3) and n3 (p=5) are valuable: their retrieve+memorize are protected; n2 (p=1) and the answer are not
    assert valuable_nodes(dead_end_traj) == {1, 3}
    assert ggpo_mask(dead_end_traj, 0.0) == [True, True, False, False, True, True, False]
    # a stricter threshold keeps only n3
    assert ggpo_mask(dead_end_traj, 0.0, score_threshold=5) == [False, False, False, False, True, True, False]


def test_negative_with_gold_evidence_hit():
    nodes = [node(0, []), node(1, [0], scores=[None], sources=["/corpus/Lilu (mythology).txt"]), node(2, [0])]
    steps = [step(0, "retrieve", 1, retrieved=[{"id": "it1_0", "state": "verified", "similarity": 0.4}]),
             step(1, "retrieve", 2), step(2, "answer", 2)]
    t = traj(nodes, steps, 2)
    assert ggpo_mask(t, 0.0) == [False, False, False]  # nothing memorized, no gold given
    assert ggpo_mask(t, 0.0, gold_evidence=["Lilu (mythology)"]) == [True, False, False]
    assert ggpo_mask(t, 0.0, gold_evidence=["it1_0"]) == [True, False, False]
    assert ggpo_mask(t, 0.0, gold_evidence=[{"source": "Lilu (mythology).txt"}]) == [True, False, False]


def test_negative_without_valuable_retrievals():
    nodes = [node(0, []), node(1, [0], scores=[1, 2]), node(2, [1], scores=[None])]
    steps = [step(0, "retrieve", 1), step(1, "memorize", 1), step(2, "retrieve", 2), step(3, "answer", 2)]
    assert ggpo_mask(traj(nodes, steps, 2), 0.0) == [False] * 4


@pytest.mark.parametrize("reward", [0.0, 1.0])
def test_single_step_answer(reward):
    t = traj([node(0, [])], [step(0, "answer", 0)], 0)
    assert ggpo_mask(t, reward) == [False]


def test_invalid_and_repeated_steps():
    nodes = [node(0, []), node(1, [0], scores=[5])]
    steps = [step(0, "invalid", None), step(1, "retrieve", 1), step(2, "retrieve", 1, repeat=True),
             step(3, "answer", 1)]
    t = traj(nodes, steps, 1)
    # positive: invalid output and the redundant repeat are not rewarded
    assert ggpo_mask(t, 1.0) == [True, False, True, False]
    # negative: they are punished; only the valuable first retrieval is protected
    assert ggpo_mask(t, 0.0) == [False, True, False, False]


def test_dag_with_two_parents_keeps_both_paths():
    nodes = [node(0, []), node(1, [0]), node(2, [0]), node(3, [0]), node(4, [1, 2])]
    steps = [step(i, "retrieve", i + 1) for i in range(4)] + [step(4, "answer", 4)]
    assert ggpo_mask(traj(nodes, steps, 4), 1.0) == [False, False, True, False, False]


def test_no_answer_node_prunes_nothing_in_positive():
    nodes = [node(0, []), node(1, [0])]
    t = traj(nodes, [step(0, "retrieve", 1), step(1, "answer", None)], None)
    assert ggpo_mask(t, 1.0) == [False, False]


def test_answer_node_from_answer_step_when_top_level_missing():
    nodes = [node(0, []), node(1, [0]), node(2, [0])]
    t = traj(nodes, [step(0, "retrieve", 1), step(1, "retrieve", 2), step(2, "answer", 2)], None)
    assert ggpo_mask(t, 1.0) == [True, False, False]


def test_accepts_trajectory_object(dead_end_traj):
    from vimrag.agent.trajectory import Trajectory

    obj = Trajectory.from_json(dead_end_traj)
    assert ggpo_mask(obj, 1.0) == ggpo_mask(dead_end_traj, 1.0)


def test_malformed_trajectories_raise_clear_errors():
    with pytest.raises(TrajectoryError, match="nodes"):
        ggpo_mask({"steps": []}, 1.0)
    with pytest.raises(TrajectoryError, match="answer node 7"):
        ggpo_mask(traj([node(0, [])], [step(0, "answer", 7)], 7), 1.0)
    with pytest.raises(TrajectoryError, match="unknown parent"):
        ggpo_mask(traj([node(0, []), node(1, [9])], [step(0, "answer", 1)], 1), 1.0)
    with pytest.raises(TrajectoryError):
        ggpo_mask(42, 1.0)


@st.composite
def random_dag_traj(draw):
    n = draw(st.integers(1, 8))
    nodes = [node(0, [])]
    for i in range(1, n):
        parents = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=3, unique=True))
        nodes.append(node(i, parents, scores=[draw(st.sampled_from([None, 1, 3, 5]))]))
    ans = draw(st.integers(0, n - 1))
    steps = [step(i - 1, draw(st.sampled_from(["retrieve", "memorize"])), i) for i in range(1, n)]
    steps.append(step(len(steps), "answer", ans))
    return traj(nodes, steps, ans)


def _all_paths(t, target):
    children = {}
    for nd in t["nodes"]:
        for p in nd["parents"]:
            children.setdefault(p, []).append(nd["id"])
    on = set()

    def dfs(v, path):
        if v == target:
            on.update(path)
            return
        for c in children.get(v, []):
            dfs(c, path + [c])

    dfs(0, [0])
    return on


@settings(max_examples=60, deadline=None)
@given(random_dag_traj(), st.sampled_from([0.0, 1.0]))
def test_mask_matches_brute_force_path_enumeration(t, reward):
    mask = ggpo_mask(t, reward)
    assert len(mask) == len(t["steps"])
    assert mask[-1] is False  # the answer step is never pruned
    if reward == 1.0:
        on_path = _all_paths(t, t["answer_node"])
        assert answer_path_nodes(t) == on_path
        assert mask[:-1] == [s["node"] not in on_path for s in t["steps"][:-1]]
    else:
        val = {nd["id"] for nd in t["nodes"] if any((b["score"] or 0) >= 3 for b in nd["bank"])}
        retrieved = {s["node"] for s in t["steps"] if s["action"] == "retrieve"}
        assert mask[:-1] == [s["node"] in (val & retrieved) for s in t["steps"][:-1]]
