from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from vimrag.agent.budget import allocate_tokens, node_value, total_tokens, visual_energy
from vimrag.agent.graph import BankEntry, MemoryGraph
from vimrag.config import BudgetConfig
from vimrag.types import Item, LogicState, Modality


def entry(i: str, score: int | None, saliency: bool = True) -> BankEntry:
    return BankEntry(Item(i, f"{i}.png", i, Modality.IMAGE), LogicState.VERIFIED, 0.5, saliency=saliency, score=score)


def test_visual_energy_formula():
    # p̂ = 4/5, outdeg 2, T - t = 3, λ = 0.1
    assert math.isclose(visual_energy(4, 2, 1, 4, 0.1), 0.8 * 3 * math.exp(-0.3))
    assert visual_energy(5, 0, 5, 5, 0.1) == 1.0
    assert visual_energy(None, 0, 0, 0, 0.1) == 3 / 5  # unscored counts as p = 3


def test_paper_budget_in_tokens():
    cfg = BudgetConfig()
    assert cfg.s_total == 5 * 256 * 32 * 32
    assert total_tokens(BudgetConfig(patch_px=32)) == 5 * 256


def test_node_value_bottom_up_by_hand():
    cfg = BudgetConfig(decay=0.0, gamma=0.5)
    g = MemoryGraph("Q")
    a = g.add_node("a", [0], 1, bank=[entry("a1", 5), entry("a2", 1), entry("ax", 5, saliency=False)])
    b = g.add_node("b", [a.id], 2, bank=[entry("b1", 5), entry("b2", 3)])
    g.add_node("c", [b.id], 3, bank=[])  # nothing kept: passes nothing of its own
    om = node_value(g, now=3, cfg=cfg)
    # b: outdeg 1 → E = p̂·2; children (c) empty → Ω = E
    assert math.isclose(om[(b.id, 1)], 1.0 * 2) and math.isclose(om[(b.id, 2)], 0.6 * 2)
    mean_b = (2.0 + 1.2) / 2
    # a: outdeg 1 → E = p̂·2; + γ·Ω̄(b)
    assert math.isclose(om[(a.id, 1)], 2.0 + 0.5 * mean_b)
    assert math.isclose(om[(a.id, 2)], 0.4 + 0.5 * mean_b)
    assert (a.id, 3) not in om  # u = 0: no value, no tokens


def test_allocation_topk_min_tokens_and_pixels():
    cfg = BudgetConfig(top_k=2, min_tokens=4, patch_px=28)
    g = MemoryGraph("Q")
    g.add_node("a", [0], 1, bank=[entry("a1", 5), entry("a2", 2), entry("a3", 1)])
    alloc = {a.item_id: a for a in allocate_tokens(g, cfg)}
    assert alloc["a3"].tokens == 0  # outside the top-2
    assert alloc["a1"].tokens > alloc["a2"].tokens > 0
    assert alloc["a1"].tokens + alloc["a2"].tokens <= total_tokens(cfg)
    assert alloc["a1"].max_pixels == alloc["a1"].tokens * 28 * 28


def test_items_under_min_tokens_get_nothing_and_free_their_share():
    cfg = BudgetConfig(s_total=100 * 28 * 28, top_k=5, min_tokens=10)
    g = MemoryGraph("Q")
    g.add_node("a", [0], 1, bank=[entry("big", 5), entry("small", 1)])
    g.nodes[1].bank[1].score = 1
    # Ω: 1.0 vs 0.2 → first share 83 / 16; both ≥ 10
    alloc = {a.item_id: a.tokens for a in allocate_tokens(g, cfg)}
    assert alloc == {"big": 83, "small": 16}
    cfg2 = BudgetConfig(s_total=100 * 28 * 28, top_k=5, min_tokens=20)
    alloc2 = {a.item_id: a.tokens for a in allocate_tokens(g, cfg2)}
    assert alloc2 == {"big": 100, "small": 0}


@st.composite
def graphs(draw):
    g = MemoryGraph("Q")
    n_nodes = draw(st.integers(0, 7))
    k = 0
    for step in range(1, n_nodes + 1):
        parents = draw(st.lists(st.integers(0, len(g) - 1), min_size=1, max_size=3))
        bank = []
        for _ in range(draw(st.integers(0, 4))):
            k += 1
            bank.append(entry(f"i{k}", draw(st.one_of(st.none(), st.integers(0, 5))), draw(st.booleans())))
        g.add_node(f"q{step}", parents, step, bank=bank)
    cfg = BudgetConfig(
        s_total=draw(st.integers(0, 4_000_000)), decay=draw(st.floats(0, 2)), gamma=draw(st.floats(0, 2)),
        top_k=draw(st.integers(0, 12)), patch_px=draw(st.sampled_from([14, 28, 32])),
        min_tokens=draw(st.integers(0, 64)),
    )
    return g, cfg


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_budget_invariants(gc):
    g, cfg = gc
    alloc = allocate_tokens(g, cfg)
    # never over budget
    assert sum(a.tokens for a in alloc) <= total_tokens(cfg)
    assert sum(a.max_pixels for a in alloc) <= cfg.s_total
    # monotone in Ω: more Ω never gets fewer tokens
    for x in alloc:
        for y in alloc:
            if x.omega > y.omega:
                assert x.tokens >= y.tokens
    # zero Ω gets nothing; nothing below min_tokens except zero; at most top_k items funded
    assert all(a.tokens == 0 for a in alloc if a.omega == 0)
    assert all(a.tokens == 0 or a.tokens >= cfg.min_tokens for a in alloc)
    assert sum(1 for a in alloc if a.tokens > 0) <= cfg.top_k
    # only kept items are allocated; deterministic
    kept = {e.item_id for n in g.nodes for e in n.bank if e.saliency}
    assert {a.item_id for a in alloc} == kept
    assert allocate_tokens(g, cfg) == alloc


def test_text_only_budget_knob():
    g = MemoryGraph("Q")
    g.add_node("a", [0], 1, bank=[entry("a1", 5), entry("a2", 5)])
    cfg = BudgetConfig(text_tokens=100, min_tokens=1)
    assert sum(a.tokens for a in allocate_tokens(g, cfg, text_only=True)) == 100
    assert total_tokens(cfg) - 2 <= sum(a.tokens for a in allocate_tokens(g, cfg)) <= total_tokens(cfg)
    default = sum(a.tokens for a in allocate_tokens(g, BudgetConfig(), text_only=True))
    assert BudgetConfig().text_tokens - 2 <= default <= BudgetConfig().text_tokens  # floor rounding
    paper = sum(a.tokens for a in allocate_tokens(g, BudgetConfig(text_tokens=0), text_only=True))
    assert total_tokens(BudgetConfig()) - 2 <= paper <= total_tokens(BudgetConfig())  # 0 = S_total / patch²
