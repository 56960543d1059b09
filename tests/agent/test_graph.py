from __future__ import annotations

import pytest

from vimrag.agent.graph import MemoryGraph, normalize_query


def test_structure_children_ancestors_path():
    g = MemoryGraph("Q?")
    a = g.add_node("a", [0], step=1)
    b = g.add_node("b", [0], step=2)
    c = g.add_node("c", [a.id, b.id], step=3)
    d = g.add_node("d", [c.id], step=4)
    assert g.root.query == "Q?" and len(g) == 5
    assert g.children(0) == [1, 2] and g.out_degree(0) == 2 and g.out_degree(c.id) == 1
    assert g.ancestors(d.id) == {0, 1, 2, 3}
    assert g.path(d.id) == [0, 1, 3, 4]
    assert g.path(0) == [0]
    assert g.answer_support(c.id) == [0, 1, 2, 3]
    assert set(g.edges()) == {(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)}


def test_invalid_parents_fall_back_to_root_and_no_cycle_possible():
    g = MemoryGraph("Q")
    n = g.add_node("x", [7, -1, "zz"], step=1)
    assert n.parents == [0]
    m = g.add_node("y", ["n1", 1, 5], step=2)  # a parent can only be an existing (older) node
    assert m.parents == [1]
    assert all(p < node.id for node in g for p in node.parents)
    with pytest.raises(KeyError):
        g.node(9)


def test_duplicate_by_normalized_text():
    g = MemoryGraph("Who directed Jaws?")
    g.add_node("Who directed Jaws?", [0], step=1)
    assert g.find_duplicate("jaws, who DIRECTED")[0] == 1
    assert g.find_duplicate("Spielberg birthplace")[0] is None


def test_root_question_is_not_a_duplicate_target():
    g = MemoryGraph("Who directed Jaws?")
    assert g.find_duplicate("Who directed Jaws?")[0] is None


def test_duplicate_by_embedding(bag_embedder):
    emb = bag_embedder
    g = MemoryGraph("Q")
    _, v = g.find_duplicate("director of the film Jaws", emb)
    g.add_node("director of the film Jaws", [0], step=1, query_vector=v)
    dup, _ = g.find_duplicate("Jaws film director who", emb, threshold=0.9)
    assert dup == 1
    assert g.find_duplicate("birthplace of Spielberg", emb, threshold=0.9)[0] is None


def test_normalize_query():
    assert normalize_query("The  cat, the DOG!") == normalize_query("dog cat the")
