"""Hybrid similarity through ``Memory.search`` with the real embedded MiniLM (issue 22): an answer findable
only by an exact code or number, a paraphrase findable only densely, the JSON that shows both scores and
the matched words, and the paper's dense similarity still available."""

from __future__ import annotations

from pathlib import Path

import pytest

from vimrag import Memory, load_config

pytestmark = [pytest.mark.slow, pytest.mark.integration]

NOTES = {
    # near-duplicates that differ only in a code / a number: the embedding cannot tell them apart
    "valve-a17.md": "# Valve maintenance\n\nValve A-17 must be torqued to 45 Nm after every inspection.\n",
    "valve-a71.md": "# Valve maintenance\n\nValve A-71 must be torqued to 54 Nm after every inspection.\n",
    "valve-b12.md": "# Valve maintenance\n\nValve B-12 must be torqued to 40 Nm after every inspection.\n",
    "sales-north.md": "# Sales\n\nThe North region sold 1,240 bicycles in the third quarter.\n",
    "sales-south.md": "# Sales\n\nThe South region sold 1,420 bicycles in the third quarter.\n",
    # the paraphrase target: no word in common with its query
    "kitten.md": "# Pets\n\nA small cat naps on the windowsill in the afternoon sun.\n",
    "garage.md": "# Garage\n\nThe car's tyres were replaced and the oil changed.\n",
    "kitchen.md": "# Kitchen\n\nThe oven timer rings when the bread is baked.\n",
}


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Memory:
    root = tmp_path_factory.mktemp("notes")
    for name, text in NOTES.items():
        (root / name).write_text(text)
    store = tmp_path_factory.mktemp("store") / "mem"
    mem = Memory(load_config(overrides={"store.uri": str(store)}, env={}))
    mem.add([root], progress=False)
    yield mem
    mem.close()


def _top(mem: Memory, query: str, k: int = 1) -> list[str]:
    return [Path(h.item.source).name for h in mem.search(query, k=k).hits]


def test_an_exact_code_or_number_decides(memory: Memory) -> None:
    assert _top(memory, "torque for valve A-71") == ["valve-a71.md"]
    assert _top(memory, "torque for valve A-17") == ["valve-a17.md"]
    assert _top(memory, "which region sold 1,420 bicycles?") == ["sales-south.md"]


def test_a_paraphrase_is_still_found_densely(memory: Memory) -> None:
    assert _top(memory, "a kitty sleeping by the window") == ["kitten.md"]


def test_json_shows_dense_lexical_and_fused_scores_and_matched_words(memory: Memory) -> None:
    out = memory.search("torque for valve A-71", k=3).to_json()
    assert out["lexical"]["terms"] == ["torque", "valve", "a-71", "71"] and 0 < out["lexical"]["weight"] <= 1
    hit = out["results"][0]
    assert set(hit["scores"]) == {"dense", "lexical", "fused"}
    assert hit["scores"]["lexical"] > 0 and hit["similarity"] == hit["scores"]["fused"]
    assert {"a-71", "71", "valve"} <= set(hit["matched"])  # "torqued" is not "torque": no stemmer


def test_the_papers_dense_similarity_is_one_setting_away(memory: Memory) -> None:
    from dataclasses import replace

    polar = memory.retriever.polar
    memory.retriever.polar = replace(polar, similarity="dense")
    try:
        hits = memory.search("torque for valve A-71", k=3).hits
        assert all(h.similarity == pytest.approx(h.dense) for h in hits)  # ranked by the cosine alone
    finally:
        memory.retriever.polar = polar


def test_unwanted_words_never_count_for_an_item(memory: Memory) -> None:
    for query in ("no cat", "a windowsill without a cat"):
        res = memory.search(query, k=3)
        assert "cat" in res.negative and "cat" not in res.terms, query


def test_query_concepts_that_reach_no_memory_concept_are_reported(memory: Memory) -> None:
    out = memory.search("a windowsill with a zeppelin", k=2).to_json()
    assert "zeppelin" in out["unmatched"]  # a text store has no concepts: every query concept is unmatched
