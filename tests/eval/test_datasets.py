"""Converters on the real shared benchmark data: counts, schema validity, gold mapping."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from vimrag.eval.datasets import resolve_dataset
from vimrag.eval.datasets.coco import read_yolo_objects
from vimrag.eval.schema import read_examples

pytestmark = pytest.mark.integration


def test_hotpotqa_gold_maps_to_sentence_spans(shared_data: Path, eval_cache: Path) -> None:
    ds = resolve_dataset("hotpotqa-100", data_root=shared_data, cache_dir=eval_cache, rebuild=True)
    assert len(ds) == 100 and ds.task == "qa"
    assert len(list((ds.corpus / "passages").glob("*.txt"))) == 994
    assert read_examples(ds.path)  # the written file validates
    raw = {q["_id"]: q for q in json.loads((shared_data / "hotpotqa-100" / "questions.json").read_text())}
    corpus = json.loads((shared_data / "hotpotqa-100" / "corpus.json").read_text())
    for ex in ds:
        q = raw[ex.id]
        assert ex.answers[0] == q["answer"]
        assert len(ex.evidence) == len(q["supporting_facts"])
        for ev, (title, sent) in zip(ex.evidence, q["supporting_facts"], strict=True):
            text = (ds.corpus / ev.source).read_text(encoding="utf-8")
            assert text.startswith(title + "\n")
            assert ev.segment is not None
            assert text[int(ev.segment[0]):int(ev.segment[1])] == corpus[title][sent]
    assert Counter(e.category for e in ds) == {"bridge": 78, "comparison": 22}


def test_mmlongbench_pages_are_one_based_and_sources_kept(shared_data: Path, eval_cache: Path) -> None:
    ds = resolve_dataset("mmlongbench-doc-dev", data_root=shared_data, cache_dir=eval_cache, rebuild=True)
    assert len(ds) == 169
    assert ds.corpus == (shared_data / "mmlongbench-doc-dev" / "documents").resolve()
    unans = [e for e in ds if e.answer_format == "none"]
    assert len(unans) == 34 and all(e.answers == ["Not answerable"] for e in unans)
    assert all((ds.corpus / ev.source).is_file() for e in ds for ev in e.evidence)
    assert all(ev.page is None or ev.page >= 1 for e in ds for ev in e.evidence)
    first = ds.examples[0]  # "Levels of Analytics" chart, page 12 in the benchmark file
    assert first.answer_format == "list" and first.answers[0][0] == "OPTIMISATION"
    assert [ev.page for ev in first.evidence] == [12] and first.category == "Chart"
    assert sum(1 for e in ds if "invalid_pages" in e.meta) == 1
    assert any(len(e.meta["evidence_sources"]) > 1 for e in ds)


def test_pope_protocol(shared_data: Path, eval_cache: Path) -> None:
    ds = resolve_dataset("coco128-pope", data_root=shared_data, cache_dir=eval_cache, rebuild=True)
    objects, _, images = read_yolo_objects(shared_data / "coco128-train")
    stems = {v: k for k, v in images.items()}
    eligible = [s for s, o in objects.items() if len(o) >= 3]
    assert ds.task == "pope" and len(ds) == 3 * 6 * len(eligible)
    for setting in ("random", "popular", "adversarial"):
        part = [e for e in ds if e.category == setting]
        assert Counter(e.answers[0] for e in part) == {"yes": 3 * len(eligible), "no": 3 * len(eligible)}
        per_image: dict[str, list[str]] = {}
        for e in part:
            present = objects[stems[e.meta["image"]]]
            # absent objects really are absent; present ones really present
            assert (e.meta["object"] in present) == (e.answers[0] == "yes")
            per_image.setdefault(e.meta["image"], []).append(e.meta["object"])
        assert all(len(v) == 6 and len(set(v)) == 6 for v in per_image.values())
    freq = Counter(o for objs in objects.values() for o in objs)
    popular_no = Counter(e.meta["object"] for e in ds if e.category == "popular" and e.answers[0] == "no")
    top = [o for o, _ in freq.most_common(8)]
    assert sum(popular_no[o] for o in top) / sum(popular_no.values()) > 0.9  # negatives come from the top classes
    # adversarial negatives co-occur with the object asked just before them
    adv = [e for e in ds if e.category == "adversarial"]
    co_hits = 0
    for pos, neg in zip(adv[0::2], adv[1::2], strict=True):
        co_hits += any(pos.meta["object"] in o and neg.meta["object"] in o for o in objects.values())
    assert co_hits / (len(adv) // 2) > 0.9


def test_negation_queries(shared_data: Path, eval_cache: Path) -> None:
    ds = resolve_dataset("coco128-negation", data_root=shared_data, cache_dir=eval_cache, rebuild=True)
    objects, _, images = read_yolo_objects(shared_data / "coco128-train")
    by_file = {images[s]: set(o) for s, o in objects.items()}
    assert ds.task == "retrieval" and len(ds) == 100
    for e in ds:
        a, b = e.meta["positive"][0], e.meta["negative"][0]
        gold = {ev.source for ev in e.evidence}
        assert gold == {f for f, o in by_file.items() if a in o and b not in o}
        assert set(e.meta["negative_images"]) == {f for f, o in by_file.items() if b in o}
        assert e.meta["confusers"] and f" {a} but no {b}" in e.question
    again = resolve_dataset("coco128-negation", data_root=shared_data, cache_dir=eval_cache, rebuild=True)
    assert [e.id for e in again] == [e.id for e in ds]  # deterministic


def test_second_negation_set_uses_another_seed_and_rule(shared_data: Path, eval_cache: Path) -> None:
    first = resolve_dataset("coco128-negation", data_root=shared_data, cache_dir=eval_cache)
    ds = resolve_dataset("coco128-negation-b", data_root=shared_data, cache_dir=eval_cache, rebuild=True)
    objects, _, images = read_yolo_objects(shared_data / "coco128-train")
    count = {}
    for objs in objects.values():
        for o in objs:
            count[o] = count.get(o, 0) + 1
    assert len(ds) == 100 and ds.meta["min_positive"] == 4 and ds.meta["seed"] == 1
    assert all(count[e.meta["positive"][0]] >= 4 for e in ds)  # A in at least 4 images
    assert len({e.id for e in ds} & {e.id for e in first}) < 50  # not the same sampling
