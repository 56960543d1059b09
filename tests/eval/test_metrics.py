"""Each metric against its reference: the official scripts' behaviour or an established package."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vimrag.eval import metrics as M

# --- HotpotQA EM / F1: cases follow hotpot_evaluate_v1.py's normalization and yes/no rule
HOTPOT = [
    ("The Eiffel Tower!", "eiffel tower", 1.0, 1.0),
    ("a spirit", "A Spirit.", 1.0, 1.0),
    ("Barack Obama", "Obama", 0.0, 2 / 3),
    ("no", "yes", 0.0, 0.0),
    ("yes it is", "yes", 0.0, 0.0),  # gold is yes, prediction differs → 0 despite token overlap
    ("noanswer", "noanswer", 1.0, 1.0),
    ("the the the", "an", 1.0, 0.0),  # both normalize to "": EM 1, F1 0 (no common tokens)
    ("New York City", "new york", 0.0, 0.8),
]


@pytest.mark.parametrize(("pred", "gold", "em", "f1"), HOTPOT)
def test_hotpot_em_f1(pred: str, gold: str, em: float, f1: float) -> None:
    assert M.exact_match(pred, gold) == em
    assert M.token_f1(pred, gold) == pytest.approx(f1)


# --- ANLS: DocVQA definition, τ = 0.5
@pytest.mark.parametrize(("pred", "golds", "value"), [
    ("Hello", ["hello"], 1.0),
    ("helo", ["hello"], 0.8),
    ("abc", ["xyz"], 0.0),
    ("2017", ["2016", "2017"], 1.0),
    ("ab", ["abcd"], 0.0),  # NL = 0.5 is not < τ
    ("abc", ["abcd"], 0.75),
    (" The  Cat ", ["the cat"], 1.0),
])
def test_anls(pred: str, golds: list[str], value: float) -> None:
    assert M.anls(pred, golds) == pytest.approx(value)


def test_levenshtein_matches_a_brute_force_reference() -> None:
    assert M.levenshtein("kitten", "sitting") == 3
    assert M.levenshtein("", "abc") == 3 and M.levenshtein("flaw", "lawn") == 2


PAIRS = [
    ("The cat sat on the mat.", "The cat is on the mat."),
    ("Hello, world! It's 3.5 km-long.", "hello world it is 3.5 km long"),
    ("a b c d e f", "a b c d e g"),
    ("short", "a much longer reference sentence here"),
    ("New York City, U.S.A. (1999)", "New York, USA 1999"),
    ("", "something"),
]


def test_rouge_l_matches_rouge_score() -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    sc = rouge_scorer.RougeScorer(["rougeL"])
    for pred, ref in PAIRS:
        assert M.rouge_l(pred, ref) == pytest.approx(sc.score(ref, pred)["rougeL"].fmeasure, abs=1e-9)


def test_bleu_matches_sacrebleu() -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    tok = Tokenizer13a()
    for pred, ref in PAIRS:
        assert M.tokenize_13a(pred) == tok(pred)
        if pred:
            assert M.sentence_bleu(pred, [ref]) == pytest.approx(sacrebleu.sentence_bleu(pred, [ref]).score, abs=1e-6)
    preds = [p for p, _ in PAIRS if p]
    refs = [r for p, r in PAIRS if p]
    assert M.corpus_bleu(preds, refs) == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score, abs=1e-6)
    refs2 = ["The cat was on the mat.", "the cat sat on a mat"]
    assert M.sentence_bleu(PAIRS[0][0], [PAIRS[0][1], *refs2]) == pytest.approx(
        sacrebleu.sentence_bleu(PAIRS[0][0], [PAIRS[0][1], *refs2]).score, abs=1e-6)


# --- MMLongBench-Doc eval_score rules
@pytest.mark.parametrize(("gold", "pred", "fmt", "score"), [
    ("4", "4.0", "Int", 1.0),
    ("4", "four", "Int", 0.0),
    ("12.5", "12.5%", "Float", 1.0),
    ("0.125", "12.5", "Float", 1.0),  # ×100 forgiven
    ("3.14", "3.2", "Float", 0.0),
    ("Analysis", "analysis", "Str", 1.0),
    ("Analysis", "Analysys", "Str", pytest.approx(1 - 1 / 8)),
    ("https://a.org", "https://a.org/", "Str", 0.0),  # URL: exact only
    ("Not answerable", "not answerable", "None", 1.0),
    ("['A', 'B']", "['b', 'a']", "List", 1.0),
    ("['A', 'B']", "['a']", "List", 0.0),
    ("['1', '2']", "['2', '1.0']", "List", 0.0),  # numeric lists join exactly
    (["OPTIMISATION", "FORECASTING"], "[\"Forecasting\", \"Optimization\"]", "List", pytest.approx(1 - 1 / 12)),
])
def test_mmlongbench_score(gold: object, pred: str, fmt: str, score: object) -> None:
    assert M.mmlongbench_score(gold, pred, fmt) == score


def test_mmlongbench_generalised_f1() -> None:
    scores = [1.0, 0.0, 1.0, 0.0]
    golds = ["a", "b", "Not answerable", "Not answerable"]
    preds = ["a", "x", "Not answerable", "y"]
    acc, f1 = M.mmlongbench_acc_f1(scores, golds, preds)
    recall, precision = 1 / 2, 1 / 3  # answerable hits / answerable golds; / predictions that answered
    assert acc == 0.5 and f1 == pytest.approx(2 * recall * precision / (recall + precision))


def test_mcq() -> None:
    opts = ["Paris", "New York", "New York City"]
    assert M.mcq_choice("B", opts) == 1 and M.mcq_choice("(c) because", opts) == 2
    assert M.mcq_choice("It is New York City.", opts) == 2
    assert M.mcq_correct("C", opts, ["New York City"]) == 1.0 and M.mcq_correct("A", opts, ["C"]) == 0.0


# --- retrieval
def test_ndcg_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    import numpy as np

    hits = [-1, 0, -1, 1, -1]  # ranks 2 and 4 relevant; 3 gold units (one never retrieved)
    n_gold, k = 3, 5
    # sklearn over the retrieved list plus the missing gold appended with the lowest score
    rel = np.array([[0, 1, 0, 1, 0, 1]])
    score = np.array([[6, 5, 4, 3, 2, 1]])
    assert M.ndcg_at_k(hits, n_gold, k) == pytest.approx(metrics.ndcg_score(rel, score, k=k))
    assert M.ndcg_at_k([0, 1], 2, 10) == pytest.approx(1.0)
    assert M.ndcg_at_k([-1, 0], 1, 2) == pytest.approx(1 / math.log2(3))


def test_hit_recall_mrr_and_matching() -> None:
    gold = [("docs/a.pdf", 3), ("b.txt", None)]
    ranked = [("/x/docs/a.pdf", 2), ("/x/docs/a.pdf", 3), ("/x/b.txt", None), ("/x/b.txt", None), ("/x/ab.txt", None)]
    hits = M.relevance(ranked, gold)
    assert hits == [-1, 0, 1, 1, -1]
    assert M.hit_at_k(hits, 1) == 0.0 and M.hit_at_k(hits, 2) == 1.0
    assert M.recall_at_k(hits, 2, 2) == 0.5 and M.recall_at_k(hits, 2, 5) == 1.0
    assert M.mrr(hits) == 0.5
    assert not M.source_matches("/x/notb.txt", "b.txt")


@given(st.text(max_size=30), st.text(max_size=30))
def test_f1_bounds_and_em_implies_f1(pred: str, gold: str) -> None:
    f1 = M.token_f1(pred, gold)
    assert 0.0 <= f1 <= 1.0
    if M.exact_match(pred, gold) and M.normalize_answer(gold):
        assert f1 == 1.0


@given(st.lists(st.integers(min_value=-1, max_value=4), max_size=12), st.integers(1, 12))
def test_ndcg_and_recall_bounded(hits: list[int], k: int) -> None:
    n_gold = 5
    assert 0.0 <= M.ndcg_at_k(hits, n_gold, k) <= 1.0 + 1e-12
    assert 0.0 <= M.recall_at_k(hits, n_gold, k) <= 1.0
    assert M.ndcg_at_k(list(range(min(k, n_gold))), n_gold, k) == pytest.approx(1.0)
