"""Ranking inside a logic tier by the verification evidence for the query (issue 16, a deviation).

Algorithm 1 orders items by (logic state, similarity). Inside a state, similarity between the query text
and an item is a weak signal for photos — an item that *surely* has a dog should come before one whose
caption merely resembles "a dog but no person". Reading each concept's verification score as P(concept
present) — a VLM's P(Yes) is one (Eq. 4); the closed-set perceiver's γ-stretched confidence s_c stands in
for one, or its per-class calibration when ``polar.calibration`` names a table
(``vimrag.models.perceivers.calibration``) — the probability that an item satisfies "A but not B" is,
treating concepts as independent,

    E(item) = Π_wanted max_{c ∈ group} P(c) · Π_unwanted (1 − max_{c ∈ group} P(c)),

one group per query word (a word may reach several memory concepts). A concept the item was never checked
for counts as P = 0 when wanted and P = 0.5 when unwanted (unknown). Items are then ordered by

    (logic state, E, similarity)

so the lexicographic guarantee of Algorithm 1 is untouched: a conflict never rises above a non-conflict,
a neutral item never above a verified one — E only reorders items *within* a state, and only pictures
(:data:`PICTURES`) among the slots similarity gave pictures; pages and text keep their places. Cost and limit: the
evidence lives on the items, not in the index, so the reordering covers the first ``polar.evidence_window``
items of the lexicographic order (the whole tier on stores up to that size); an item deeper in a larger tier
is not pulled up by its evidence. ``evidence_window = 0`` restores the paper's order.

Measured on coco128-negation (100 "A but no B" queries, default search, k = 5; precision over the attainable
min(5, gold)): Algorithm 1 with strict negation 0.728, 9.8 % of the top 5 containing B; with E 0.801 and
6.8 %. Variants that lost: E after a "wanted concept verified" sub-tier 0.793 / 8.8 %; "every unwanted concept
verified absent" first 0.557 / 0.6 % (an A-photo whose B is undecided is gold half the time); (1 − P(B))²
0.744 / 3.6 %; the per-class calibrated probabilities 0.792 / 11.4 % (they crowd near 0 for absent classes,
so B's weak evidence no longer separates photos) — that table ships as an option, off by default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from vimrag.models.perceivers.calibration import Calibration
from vimrag.store.base import ScoredId
from vimrag.types import Item, LogicState, Modality

UNKNOWN_UNWANTED = 0.5  # P(present) of an unwanted concept the item was never checked for


def concept_groups(matches: Mapping[str, Sequence[str]], words: Sequence[str], kept: Sequence[str]) -> list[list[str]]:
    """One group of memory concepts per query word, restricted to the concepts the logic query kept."""
    keep = set(kept)
    groups = [[c for c in matches.get(w, []) if c in keep] for w in words]
    return [g for g in groups if g]


def concept_probabilities(item: Item, calibration: Calibration | None = None) -> dict[str, float]:
    """P(present) per concept of the item: the stored score, through the per-class calibration for the
    closed-set detector's concepts when one applies (a VLM's P(Yes) is a probability already)."""
    scores = {e.concept: min(1.0, max(0.0, float(e.score))) for e in item.concepts}
    if calibration is not None:
        scores.update(calibration.probabilities(
            {e.concept: scores[e.concept] for e in item.concepts if e.origin == "detector"}))
    return scores


def query_evidence(item: Item, wanted: Sequence[Sequence[str]], unwanted: Sequence[Sequence[str]],
                   calibration: Calibration | None = None) -> float:
    """E(item): the probability, from its verification scores, that the item satisfies the query."""
    scores = concept_probabilities(item, calibration)
    e = 1.0
    for group in wanted:
        e *= max((scores.get(c, 0.0) for c in group), default=0.0)
    for group in unwanted:
        e *= 1.0 - max((scores.get(c, UNKNOWN_UNWANTED) for c in group), default=UNKNOWN_UNWANTED)
    return e


_STATE_ORDER = {LogicState.VERIFIED: 2, LogicState.UNCERTAIN: 1, LogicState.CONFLICT: 0}


#: Items whose order inside a state the evidence decides: pictures (photos, figures, video segments), whose
#: words are mostly their own concept state. Pages and text keep similarity's order: their text is what
#: matches a question (ordering pages by a layout score cost page hit@5 on MMLongBench-Doc, 0.682 → 0.652).
PICTURES = frozenset({Modality.IMAGE, Modality.VIDEO})


def rank_by_evidence(scored: Sequence[ScoredId], items: Mapping[str, Item],
                     wanted: Sequence[Sequence[str]], unwanted: Sequence[Sequence[str]], step: float = 0.0,
                     calibration: Calibration | None = None) -> list[tuple[ScoredId, float]]:
    """``scored`` (the lexicographic order) with the pictures of each state reordered by (E, similarity);
    returns each id with its E.

    Each state keeps its place, and within it the slots of pictures and of other items stay where
    similarity put them: the pictures are permuted among their own slots, so text and pages interleave with
    them as before. ``step`` > 0 compares E in steps of that size (E 0.93 and 0.97 tie at step 0.1, and
    similarity decides). Items missing from ``items`` (removed meanwhile) are dropped.
    """
    rows = [(s, items[s.id]) for s in scored if s.id in items]
    evidence = [query_evidence(it, wanted, unwanted, calibration) for _, it in rows]
    out: list[tuple[ScoredId, float]] = [(s, e) for (s, _), e in zip(rows, evidence, strict=True)]
    for state in _STATE_ORDER:
        slots = [i for i, (s, it) in enumerate(rows) if LogicState(s.state) == state and it.modality in PICTURES]
        level = [math.floor(evidence[i] / step + 1e-9) if step > 0 else evidence[i] for i in slots]
        order = sorted(range(len(slots)), key=lambda j: (-level[j], -float(rows[slots[j]][0].similarity), j))
        for slot, j in zip(slots, order, strict=True):
            out[slot] = (rows[slots[j]][0], evidence[slots[j]])
    out.sort(key=lambda r: -_STATE_ORDER[LogicState(r[0].state)])  # stable: a no-op on the store's order
    return out
