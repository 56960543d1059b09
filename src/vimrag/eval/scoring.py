"""Per-example scores and their aggregation per method and per category.

Scores are computed from the stored predictions at report time, never during the run, so a metric can be
fixed or added without re-running a model. Which scores apply depends on the dataset's task:

- ``qa``: ``em`` / ``f1`` (HotpotQA), ``anls``, ``rouge_l``, ``bleu4``, ``acc`` (MMLongBench-Doc rules when
  the dataset says so, MCQ accuracy with options, else EM), plus retrieval scores when there is evidence;
- ``pope``: ``correct`` per question, and the POPE set metrics (accuracy, precision, recall, F1, yes-ratio)
  per method and per setting;
- ``retrieval``: ``precision@k``, ``capped_precision@k`` (hits over min(k, gold)), ``hit@k``, ``recall@k``,
  ``ndcg@k``, ``mrr``, and ``violation@k`` (share of the top-k that contains the excluded object — what
  negation-aware retrieval must avoid); ``returned@k`` and ``neg_items@k`` count the top-k results presented
  as matches (state not ``conflict``: conflicts are shown flagged "excluded: has B") and how many of those
  contain the excluded object.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from vimrag.eval import metrics as M
from vimrag.eval.methods import Prediction
from vimrag.eval.pope import pope_label, pope_scores
from vimrag.eval.schema import Dataset, Example

KS = (1, 5, 10)


def _retrieval_scores(ex: Example, pred: Prediction, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if not ex.evidence:
        return out
    ranked = [(r.source, r.page) for r in pred.retrieved]
    doc_gold = sorted({(e.source, None) for e in ex.evidence})
    doc_hits = M.relevance(ranked, doc_gold)
    for k in KS:
        # P@k: the share of the k slots holding a gold document (fewer than k results count as misses)
        out[f"{prefix}precision@{k}"] = sum(h >= 0 for h in doc_hits[:k]) / k
        # capped P@k: distinct gold documents in the top k over min(k, gold), so 1.0 is reachable on every
        # query and never exceeded (three pages of one gold PDF are one hit, not three)
        out[f"{prefix}capped_precision@{k}"] = M.found_at_k(doc_hits, k) / min(k, len(doc_gold))
        out[f"{prefix}doc_hit@{k}"] = M.hit_at_k(doc_hits, k)
        out[f"{prefix}doc_recall@{k}"] = M.recall_at_k(doc_hits, len(doc_gold), k)
        out[f"{prefix}ndcg@{k}"] = M.ndcg_at_k(doc_hits, len(doc_gold), k)
    out[f"{prefix}mrr"] = M.mrr(doc_hits)
    page_gold = sorted({(e.source, e.page) for e in ex.evidence if e.page is not None})
    if page_gold:
        page_hits = M.relevance(ranked, page_gold)
        for k in KS:
            out[f"{prefix}page_hit@{k}"] = M.hit_at_k(page_hits, k)
            out[f"{prefix}page_recall@{k}"] = M.recall_at_k(page_hits, len(page_gold), k)
    return out


def score_example(ex: Example, pred: Prediction, task: str, scoring: str = "") -> dict[str, float]:
    """All per-example scores that apply to this task (see module docstring)."""
    if pred.error:
        base = {"error": 1.0}
        if task == "pope":
            base["correct"] = 0.0
        elif task == "qa":
            base.update({"acc": 0.0, "em": 0.0, "f1": 0.0})
        return base
    if task == "pope":
        return {"correct": float(pope_label(pred.answer) == str(ex.answers[0]).lower())}
    if task == "retrieval":
        s = _retrieval_scores(ex, pred)
        neg = ex.meta.get("negative_images") or []
        for k in KS:
            top = pred.retrieved[:k]
            bad = [any(M.source_matches(r.source, n) for n in neg) for r in top]
            s[f"violation@{k}"] = sum(bad) / len(top) if top else 0.0
            # presented as matches (not flagged as conflicts): how many there are and how many contain B
            shown = [b for r, b in zip(top, bad, strict=True) if r.state != "conflict"]
            s[f"returned@{k}"] = float(len(shown))
            s[f"neg_items@{k}"] = float(sum(shown))
        return s
    golds = [str(a) if not isinstance(a, list) else str(a) for a in ex.answers]
    p = pred.answer
    s = {
        "em": M.best_over(M.exact_match, p, golds),
        "f1": M.best_over(M.token_f1, p, golds),
        "anls": M.anls(p, golds) if golds else 0.0,
        "rouge_l": M.best_over(M.rouge_l, p, golds),
        "bleu4": M.sentence_bleu(p, golds) if golds and p.strip() else 0.0,
    }
    if scoring == "mmlongbench" and ex.answers:
        s["acc"] = M.mmlongbench_score(ex.answers[0], p, ex.answer_format)
    elif ex.options:
        s["acc"] = M.mcq_correct(p, ex.options, ex.answers)
    else:
        s["acc"] = s["em"]
    s.update(_retrieval_scores(ex, pred))
    return s


def _mean_dict(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for r in rows for k in r})
    return {k: M.mean(r[k] for r in rows if k in r) for k in keys}


def process_stats(preds: Sequence[Prediction]) -> dict[str, float]:
    """Tokens per question, steps, invalid retrievals, wall time, peak memory, errors."""
    if not preds:
        return {}
    tot = [p.prompt_tokens + p.completion_tokens for p in preds]
    secs = sorted(p.seconds for p in preds)
    return {
        "n": len(preds),
        "prompt_tokens": M.mean(p.prompt_tokens for p in preds),
        "completion_tokens": M.mean(p.completion_tokens for p in preds),
        "cached_tokens": M.mean(p.cached_tokens for p in preds),
        "tokens": M.mean(tot),
        "tokens_p50": float(statistics.median(tot)),
        "steps": M.mean(p.steps for p in preds),
        "invalid_retrievals": M.mean(p.invalid_retrievals for p in preds),
        "seconds": M.mean(secs),
        "seconds_p50": float(statistics.median(secs)),
        "seconds_p90": secs[min(len(secs) - 1, int(0.90 * len(secs)))],
        "seconds_p95": secs[min(len(secs) - 1, int(0.95 * len(secs)))],
        "peak_rss_mb": max(p.rss_peak_mb for p in preds),
        "errors": float(sum(1 for p in preds if p.error)),
    }


def aggregate(dataset: Dataset, preds: Sequence[Prediction], methods: Sequence[str]) -> dict[str, Any]:
    """Scores per method, per (method, category) and per (method, evidence source), plus process stats."""
    by_id = {e.id: e for e in dataset.examples}
    scoring = str(dataset.meta.get("scoring", ""))
    rows: dict[str, list[tuple[Example, Prediction, dict[str, float]]]] = defaultdict(list)
    for p in preds:
        ex = by_id.get(p.id)
        if ex is not None:
            rows[p.method].append((ex, p, score_example(ex, p, dataset.task, scoring)))
    scores: dict[str, dict[str, float]] = {}
    by_cat: dict[str, dict[str, dict[str, float]]] = {}
    by_source: dict[str, dict[str, dict[str, float]]] = {}
    process: dict[str, dict[str, float]] = {}
    per_example: dict[str, list[dict[str, Any]]] = {}
    for m in methods:
        r = rows.get(m, [])
        if not r:
            continue
        scores[m] = _mean_dict([s for _, _, s in r])
        if dataset.task == "pope":
            scores[m].update({f"pope_{k}": v for k, v in pope_scores(
                [p.answer for _, p, _ in r], [str(e.answers[0]) for e, _, _ in r]).to_dict().items()})
        if scoring == "mmlongbench":
            acc, f1 = M.mmlongbench_acc_f1([s.get("acc", 0.0) for _, _, s in r],
                                           [e.answers[0] if e.answers else "" for e, _, _ in r],
                                           [p.answer for _, p, _ in r])
            scores[m]["mml_acc"], scores[m]["mml_f1"] = acc, f1
        cats: dict[str, list[tuple[Example, Prediction, dict[str, float]]]] = defaultdict(list)
        srcs: dict[str, list[dict[str, float]]] = defaultdict(list)
        for e, p, s in r:
            cats[e.category or "-"].append((e, p, s))
            for src in e.meta.get("evidence_sources", []) or []:
                srcs[src].append(s)
        by_cat[m] = {}
        for c, cr in sorted(cats.items()):
            by_cat[m][c] = _mean_dict([s for _, _, s in cr]) | {"n": float(len(cr))}
            if dataset.task == "pope":
                ps = pope_scores([p.answer for _, p, _ in cr], [str(e.answers[0]) for e, _, _ in cr])
                by_cat[m][c].update({f"pope_{k}": v for k, v in ps.to_dict().items()})
        if srcs:
            by_source[m] = {c: _mean_dict(v) | {"n": float(len(v))} for c, v in sorted(srcs.items())}
        process[m] = process_stats([p for _, p, _ in r])
        per_example[m] = [{"id": e.id, "category": e.category, "answer": p.answer,
                           "gold": e.answers[:3], "scores": s, "tokens": p.prompt_tokens + p.completion_tokens,
                           "seconds": p.seconds, "error": p.error} for e, p, s in r]
    return {"scores": scores, "by_category": by_cat, "by_evidence_source": by_source, "process": process,
            "per_example": per_example}


def headline_metrics(task: str, scoring: str = "") -> list[str]:
    """The few columns a summary table shows for a task."""
    if task == "pope":
        return ["pope_accuracy", "pope_precision", "pope_recall", "pope_f1", "pope_yes_ratio"]
    if task == "retrieval":
        return ["precision@5", "capped_precision@5", "doc_hit@1", "doc_hit@5", "ndcg@10", "mrr", "violation@5",
                "returned@5", "neg_items@5"]
    if scoring == "mmlongbench":
        return ["mml_acc", "mml_f1", "anls", "doc_hit@5", "page_hit@5", "page_recall@10"]
    return ["acc", "em", "f1", "rouge_l", "doc_hit@5", "doc_recall@10", "ndcg@10"]
