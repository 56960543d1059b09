from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vimrag.polar.logic import explain, lexicographic_rank, logic_state
from vimrag.types import LogicState

V, U, C = LogicState.VERIFIED, LogicState.UNCERTAIN, LogicState.CONFLICT


@pytest.mark.parametrize(
    ("has", "not_has", "pos", "neg", "want"),
    [
        ({"cup"}, set(), {"cup"}, set(), V),
        ({"cup", "person"}, set(), {"cup"}, {"person"}, C),  # Q− ∩ HAS
        (set(), {"cup"}, {"cup"}, set(), C),  # Q+ ∩ NOT_HAS
        ({"cup"}, {"person"}, {"cup"}, {"person"}, V),  # verified absence of the unwanted concept is fine
        (set(), set(), {"cup"}, {"person"}, U),
        ({"dog"}, set(), {"cup"}, set(), U),
        ({"cup"}, {"dog"}, {"cup", "dog"}, set(), C),  # conflict dominates a partial match
        (set(), set(), set(), set(), U),
        ({"person"}, set(), set(), {"person"}, C),
    ],
)
def test_logic_state_table(has, not_has, pos, neg, want) -> None:
    assert logic_state(has, not_has, pos, neg) == want


@pytest.mark.parametrize(
    ("has", "not_has", "pos", "neg", "want"),
    [
        ({"cup"}, {"person"}, {"cup"}, {"person"}, V),  # absence verified
        ({"cup"}, set(), {"cup"}, {"person"}, U),  # person undecided: neutral, not verified
        ({"cup"}, {"person"}, {"cup"}, {"person", "dog"}, U),  # every Q− concept must be verified absent
        ({"cup"}, {"person", "dog"}, {"cup"}, {"person", "dog"}, V),
        ({"cup", "person"}, set(), {"cup"}, {"person"}, C),
        ({"cup"}, set(), {"cup"}, set(), V),  # no Q−: same as Algorithm 1
    ],
)
def test_strict_negation_table(has, not_has, pos, neg, want) -> None:
    assert logic_state(has, not_has, pos, neg, strict=True) == want


def test_explanations() -> None:
    assert explain(V, {"cup"}, {"person"}, {"cup"}, {"person"}) == "verified: has *cup*; verified absent: *person*"
    assert explain(U, {"cup"}, set(), {"cup"}, {"person"}) == "has *cup*; absence not verified: *person*"
    assert explain(C, {"person"}, set(), {"cup"}, {"person"}) == "excluded: has *person*"
    assert explain(C, set(), {"cup"}, {"cup"}, set()) == "conflict: verified NOT to have *cup*"
    assert "*cup*" in explain(V, {"cup"}, set(), {"cup"}, set())
    assert "mentions *dog*" in explain(U, set(), set(), {"dog"}, set(), entities=["dog"])


@given(st.lists(st.tuples(st.sampled_from([-1, 0, 1]), st.floats(-1, 1, allow_nan=False)), max_size=40))
def test_lexicographic_rank_invariants(rows: list[tuple[int, float]]) -> None:
    ranked = lexicographic_rank(list(range(len(rows))), [r[0] for r in rows], [r[1] for r in rows])
    for a, b in zip(ranked, ranked[1:], strict=False):
        sa, sb = rows[a], rows[b]
        assert sa[0] >= sb[0]  # a conflict never outranks a non-conflict; neutral never outranks verified
        if sa[0] == sb[0]:
            assert sa[1] >= sb[1]  # similarity orders items inside a tier
