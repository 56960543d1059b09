"""Property: whatever sequence of replaces and removes, removing a source leaves no item or edge behind."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vimrag.polar.logic import logic_state
from vimrag.store.base import LogicQuery
from vimrag.types import LogicState

from .conftest import random_source

DIM = 8
VOCAB = ["dog", "cat", "car", "tree", "sky"]
ops = st.lists(st.tuples(st.sampled_from(["replace", "remove"]), st.sampled_from(["a", "b", "c"]),
                         st.integers(0, 4), st.integers(0, 10_000)), min_size=1, max_size=8)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=ops)
def test_removed_source_leaves_nothing(open_backend, script) -> None:
    store = open_backend()
    try:
        for src in list(store.sources()):  # the fixture's store is shared across examples: start empty
            store.remove_source(src)
        live: dict[str, list] = {}
        for op, src, n, seed in script:
            if op == "replace":
                rec, items = random_source(np.random.default_rng(seed), src, n, VOCAB, DIM, version=seed)
                store.replace_source(rec, items)
                live[src] = items
            else:
                removed = store.remove_source(src)
                assert removed == len(live.pop(src, []))
                assert all(i.source != src for i in store.iter_items())
                assert store.get([f"{src}#{i}" for i in range(5)]) == []
            expect_vocab = sorted({c.concept for items in live.values() for it in items for c in it.concepts})
            assert store.vocabulary() == expect_vocab
            assert store.count() == sum(len(v) for v in live.values())
            assert set(store.sources()) == set(live)
            for strict in (False, True):
                hits = store.search(np.ones(DIM, np.float32), LogicQuery(("dog",), ("cat",), strict), 50)
                assert {h.id for h in hits} == {it.id for items in live.values() for it in items}
                for h in hits:  # the state is computed from the live edges only
                    it = next(i for items in live.values() for i in items if i.id == h.id)
                    assert h.state is logic_state(it.has, it.not_has, ["dog"], ["cat"], strict)
                    if strict and h.state is LogicState.VERIFIED:
                        assert "cat" in it.not_has
    finally:
        store.close()
