"""Answer and retrieval metrics, each matching a reference implementation (tests check them against it).

- EM / token F1: the official HotpotQA evaluation script (``hotpot_evaluate_v1.py``): lower-case, strip
  punctuation and the articles a/an/the, collapse white space; F1 over bag-of-tokens overlap, and 0 when
  either side is yes / no / noanswer and the two differ.
- ANLS: the DocVQA definition (Biten et al. 2019): ``1 − NL`` when the normalized Levenshtein distance
  ``NL < τ = 0.5``, else 0; max over the accepted answers; strings lower-cased and stripped.
- ROUGE-L: LCS F-measure with ``rouge-score``'s default tokenisation (lower-case, non-alphanumerics to
  spaces, no stemming).
- BLEU-4: Papineni et al. corpus BLEU with ``sacrebleu``'s 13a tokeniser and its ``exp`` smoothing for
  sentence BLEU; 0–100 scale like sacrebleu.
- MMLongBench-Doc: the official ``eval_score`` rules per answer format, and its generalised accuracy/F1
  over answerable vs "Not answerable".
- Retrieval: hit@k, recall@k, NDCG@k (binary relevance, log2 discount, ideal DCG over min(|gold|, k)),
  MRR; a retrieved entry matches gold evidence by source path suffix and, where the gold has one, page.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from math import isclose
from typing import Any

# --------------------------------------------------------------------------- HotpotQA EM / F1


def normalize_answer(s: str) -> str:
    """HotpotQA / SQuAD normalization: lower, drop punctuation, drop articles, collapse spaces."""
    s = str(s).lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_precision_recall(prediction: str, gold: str) -> tuple[float, float, float]:
    """Token F1, precision, recall as in ``hotpot_evaluate_v1.f1_score`` (yes/no/noanswer special case)."""
    p, g = normalize_answer(prediction), normalize_answer(gold)
    special = {"yes", "no", "noanswer"}
    if (p in special or g in special) and p != g:
        return 0.0, 0.0, 0.0
    pt, gt = p.split(), g.split()
    common = Counter(pt) & Counter(gt)
    same = sum(common.values())
    if same == 0:
        return 0.0, 0.0, 0.0
    precision, recall = same / len(pt), same / len(gt)
    return 2 * precision * recall / (precision + recall), precision, recall


def token_f1(prediction: str, gold: str) -> float:
    return f1_precision_recall(prediction, gold)[0]


def best_over(metric: Any, prediction: str, golds: Sequence[Any]) -> float:
    """Max of ``metric(prediction, g)`` over the accepted answers (0 when there are none)."""
    return max((metric(prediction, str(g)) for g in golds), default=0.0)


def accuracy(predictions: Sequence[Any], golds: Sequence[Any]) -> float:
    """Fraction of exact (normalized) matches."""
    if not predictions:
        return 0.0
    return sum(normalize_answer(p) == normalize_answer(g) for p, g in zip(predictions, golds, strict=True)) / len(
        predictions)


_LETTER = re.compile(r"^\s*\(?([A-Za-z])[\).:\s]|^\s*\(?([A-Za-z])\)?\s*$")


def mcq_choice(prediction: str, options: Sequence[str]) -> int | None:
    """Which option a free-text prediction picks: a leading letter ("B", "(b)", "B. ..."), else the option
    text it contains (the longest such option, so "New York City" beats "New York")."""
    m = _LETTER.match(prediction)
    if m:
        idx = ord((m.group(1) or m.group(2)).upper()) - ord("A")
        if 0 <= idx < len(options):
            return idx
    p = normalize_answer(prediction)
    found = [(len(normalize_answer(o)), i) for i, o in enumerate(options)
             if normalize_answer(o) and normalize_answer(o) in p]
    return max(found)[1] if found else None


def mcq_correct(prediction: str, options: Sequence[str], answers: Sequence[Any]) -> float:
    """1 if the chosen option is one of the answers (given as option text or as a letter)."""
    idx = mcq_choice(prediction, options)
    if idx is None:
        return 0.0
    letter = chr(ord("A") + idx)
    return float(any(str(a).strip().upper() == letter or normalize_answer(a) == normalize_answer(options[idx])
                     for a in answers))


# --------------------------------------------------------------------------- ANLS


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def anls(prediction: str, golds: Sequence[Any] | str, tau: float = 0.5) -> float:
    """Average-normalized Levenshtein similarity of one prediction (DocVQA): max over golds of 1−NL if NL<τ."""
    if isinstance(golds, str):
        golds = [golds]
    p = " ".join(str(prediction).strip().lower().split())
    best = 0.0
    for g in golds:
        gs = " ".join(str(g).strip().lower().split())
        length = max(len(p), len(gs))
        nl = levenshtein(p, gs) / length if length else 0.0
        best = max(best, 1.0 - nl if nl < tau else 0.0)
    return best


# --------------------------------------------------------------------------- ROUGE-L


def _rouge_tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", str(text).lower()).split()


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, gold: str) -> float:
    """ROUGE-L F-measure (β = 1) of one prediction against one reference, as ``rouge_score`` computes it."""
    p, g = _rouge_tokens(prediction), _rouge_tokens(gold)
    lcs = _lcs(g, p)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(g)
    return 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------- BLEU-4


def tokenize_13a(line: str) -> str:
    """The mteval-v13a tokeniser (sacrebleu's default ``13a``)."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    line = re.sub(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r" \1 ", line)
    line = re.sub(r"([^0-9])([\.,])", r"\1 \2 ", line)
    line = re.sub(r"([\.,])([^0-9])", r" \1 \2", line)
    line = re.sub(r"([0-9])(-)", r"\1 \2 ", line)
    return " ".join(line.split())


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(predictions: Sequence[str], references: Sequence[Sequence[str]] | Sequence[str],
                max_n: int = 4, smooth: str = "none") -> float:
    """Corpus BLEU (0–100). ``references[i]`` is one reference string or a list of them for prediction i.

    ``smooth="exp"`` is sacrebleu's exponential smoothing (used by its ``sentence_bleu``): the k-th n-gram
    order with no match gets precision 1 / (2^k · total).
    """
    matches = [0] * max_n
    totals = [0] * max_n
    sys_len = ref_len = 0
    for pred, refs in zip(predictions, references, strict=True):
        refs_list = [refs] if isinstance(refs, str) else list(refs)
        pt = tokenize_13a(pred).split()
        rts = [tokenize_13a(r).split() for r in refs_list]
        sys_len += len(pt)
        # closest reference length, ties to the shorter (sacrebleu)
        ref_len += min((abs(len(r) - len(pt)), len(r)) for r in rts)[1] if rts else 0
        for n in range(1, max_n + 1):
            pc = _ngrams(pt, n)
            maxref: Counter[tuple[str, ...]] = Counter()
            for r in rts:
                maxref |= _ngrams(r, n)
            matches[n - 1] += sum(min(c, maxref[g]) for g, c in pc.items())
            totals[n - 1] += max(0, len(pt) - n + 1)
    if sys_len == 0:
        return 0.0
    log_p = 0.0
    k = 1
    for m, t in zip(matches, totals, strict=True):
        if t == 0:
            return 0.0
        if m == 0:
            if smooth == "exp":
                k *= 2
                log_p += math.log(1.0 / (k * t))
                continue
            return 0.0
        log_p += math.log(m / t)
    bp = 1.0 if sys_len > ref_len else math.exp(1 - ref_len / sys_len)
    return 100.0 * bp * math.exp(log_p / max_n)


def sentence_bleu(prediction: str, references: Sequence[str] | str) -> float:
    """Sentence BLEU-4 (0–100) with exponential smoothing, like ``sacrebleu.sentence_bleu``."""
    return corpus_bleu([prediction], [references], smooth="exp")


# --------------------------------------------------------------------------- MMLongBench-Doc

UNANSWERABLE = "not answerable"


def _mml_clean(s: Any) -> str:
    s = str(s).lower().strip()
    s = re.sub(r"\s*\([^)]*\)", "", s).strip()
    s = re.sub(r"^['\"]|['\"]$", "", s).strip()
    return s.lstrip("$").strip().rstrip("%").strip()


def _mml_exact(s: str) -> bool:
    """Answers that must match exactly rather than by ANLS (URLs, files, phone numbers, dates, e-mails)."""
    return bool(
        "https://" in s or s.endswith((".py", "ipynb")) or s.startswith("page")
        or re.fullmatch(r"\b\d+(-\d+|\s\d+)?\b", s) or "a.m." in s or "p.m." in s
        or re.fullmatch(r"\b\d{4}[-\s]\d{2}[-\s]\d{2}\b", s) or re.fullmatch(r"\b\d{4}[-\s]\d{2}\b", s)
        or re.fullmatch(r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}", s))


def _mml_anls(gt: str, pred: str, tau: float = 0.5) -> float:
    length = max(len(gt), len(pred))
    v = 1.0 - (levenshtein(gt, pred) / length if length else 0.0)
    return 0.0 if v <= tau else v


def _float_equal(ref: float, pred: Any) -> bool:
    try:
        p = float(str(pred).strip().rstrip("%").strip())
    except ValueError:
        return False

    def decimals(x: float) -> int:
        s = str(x)
        return len(s.split(".")[-1]) if "." in s else 3

    for cand in (ref / 100, ref, ref * 100):  # the official scorer forgives a percent / fraction mix-up
        if isclose(cand, p, rel_tol=0.01):
            return True
        prec = max(min(decimals(p), decimals(cand)), 2)
        if round(p, prec) == round(cand, prec):
            return True
    return False


def _as_list(v: Any) -> list[Any]:
    if isinstance(v, str) and v.strip().startswith("["):
        import ast

        try:
            v = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            return [v]
    return list(v) if isinstance(v, (list, tuple)) else [v]


def mmlongbench_score(gold: Any, prediction: Any, answer_format: str) -> float:
    """Score one answer with MMLongBench-Doc's rules (``eval/eval_score.py``), re-implemented:

    Int: integer equality; Float: equal within 1 % or at the shared precision, also ×100 / ÷100; Str/None:
    exact for URL/date/number-like golds, else ANLS (τ = 0.5, strict); List: same length, then element-wise
    after sorting (exact join for numeric/exact-like, else the minimum ANLS).
    """
    fmt = answer_format.lower()
    if fmt == "int":
        try:
            return float(int(gold) == int(float(str(prediction).strip())))
        except (TypeError, ValueError):
            return 0.0
    if fmt == "float":
        try:
            gf, pf = float(_mml_clean(gold)), float(_mml_clean(prediction))
        except ValueError:
            return 0.0
        return float(_float_equal(gf, pf))
    if fmt in ("str", "none"):
        g, p = _mml_clean(gold), _mml_clean(prediction)
        return float(g == p) if _mml_exact(g) else _mml_anls(g, p)
    gl, pl = _as_list(gold), _as_list(prediction)
    if len(gl) != len(pl):
        return 0.0
    gs, ps = sorted(_mml_clean(a) for a in gl), sorted(_mml_clean(a) for a in pl)
    if not gs:
        return 1.0
    try:
        float(gs[0])
        numeric = True
    except ValueError:
        numeric = False
    if numeric or _mml_exact(gs[0]):
        return float("-".join(gs) == "-".join(ps))
    return min(_mml_anls(g, p) for g, p in zip(gs, ps, strict=True))


def mmlongbench_acc_f1(scores: Sequence[float], golds: Sequence[Any], predictions: Sequence[Any]) -> tuple[
        float, float]:
    """Generalised accuracy and F1 of MMLongBench-Doc: recall over answerable golds, precision over
    predictions that did not say "Not answerable"."""
    if not scores:
        return 0.0, 0.0
    acc = sum(scores) / len(scores)
    answerable = [s for s, g in zip(scores, golds, strict=True) if str(g).strip().lower() != UNANSWERABLE]
    answered = [p for p in predictions if str(p).strip().lower() != UNANSWERABLE]
    if not answerable or not answered:
        return acc, 0.0
    recall = sum(answerable) / len(answerable)
    precision = sum(answerable) / len(answered)
    f1 = 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0
    return acc, f1


# --------------------------------------------------------------------------- retrieval


def source_matches(retrieved: str, gold: str) -> bool:
    """Does a retrieved source path (often absolute) name the gold source (relative to the corpus)?"""
    r = str(retrieved).replace("\\", "/")
    g = str(gold).replace("\\", "/").lstrip("./")
    return r == g or r.endswith("/" + g)


def relevance(retrieved: Sequence[tuple[str, int | None]], gold: Sequence[tuple[str, int | None]]) -> list[int]:
    """For each retrieved (source, page), the index of the gold unit it hits (or -1). A gold with
    ``page=None`` is hit by any page of its source; a gold page only by that page."""
    out = []
    for src, page in retrieved:
        hit = -1
        for j, (gsrc, gpage) in enumerate(gold):
            if source_matches(src, gsrc) and (gpage is None or page == gpage):
                hit = j
                break
        out.append(hit)
    return out


def _gains(hits: Sequence[int], k: int) -> list[int]:
    """Binary gains of the top-k, counting each gold unit once (a second chunk of a found doc is not new)."""
    seen: set[int] = set()
    gains = []
    for h in hits[:k]:
        if h >= 0 and h not in seen:
            seen.add(h)
            gains.append(1)
        else:
            gains.append(0)
    return gains


def hit_at_k(hits: Sequence[int], k: int) -> float:
    return float(any(h >= 0 for h in hits[:k]))


def found_at_k(hits: Sequence[int], k: int) -> int:
    """How many distinct gold units the top k hold."""
    return sum(_gains(hits, k))


def recall_at_k(hits: Sequence[int], n_gold: int, k: int) -> float:
    return found_at_k(hits, k) / n_gold if n_gold else 0.0


def ndcg_at_k(hits: Sequence[int], n_gold: int, k: int) -> float:
    if not n_gold:
        return 0.0
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(_gains(hits, k)))
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(n_gold, k)))
    return dcg / idcg


def mrr(hits: Sequence[int]) -> float:
    return next((1.0 / (i + 1) for i, h in enumerate(hits) if h >= 0), 0.0)


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0
