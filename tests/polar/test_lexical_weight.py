"""λ of the fused similarity: 0 for the paper's dense ranking, 1 for BM25 first, and the optional rise for
words an embedding blurs."""

from __future__ import annotations

from dataclasses import replace

from vimrag.config import PolarConfig
from vimrag.index.lexical import tokenize
from vimrag.polar.lexical_weight import lexical_weight, specific_terms


def _w(polar: PolarConfig, text: str, similarity: str | None = None) -> float:
    return lexical_weight(polar, text, tokenize(text), similarity)


def test_modes_and_the_default() -> None:
    p = PolarConfig()
    assert p.similarity == "hybrid" and _w(p, "a red bus") == p.lexical_weight
    assert _w(p, "a red bus", "dense") == 0.0 and _w(p, "a red bus", "lexical") == 1.0
    assert _w(replace(p, similarity="dense"), "a red bus") == 0.0
    assert _w(p, "") == 0.0  # no words: nothing lexical to weigh


def test_the_rise_for_numbers_codes_quotes_and_names() -> None:
    assert specific_terms('torque of valve A-17 in "Lakeside depot" for Ada Okafor',
                          tokenize('torque of valve A-17 in "Lakeside depot" for Ada Okafor')) == {
        "a-17", "17", "lakeside", "depot", "ada", "okafor"}
    p = replace(PolarConfig(), lexical_weight=0.2, lexical_weight_specific=0.6)
    assert _w(p, "a red bus") == 0.2
    assert _w(p, "1,240 A-17") == 0.6
    assert 0.2 < _w(p, "valve A-17") < 0.6
