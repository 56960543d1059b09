"""Outcome rewards r ∈ {0, 1} for GGPO (VimRAG §3.3 uses a binary outcome reward).

- ``em``: SQuAD-normalized exact match against any gold alias.
- ``f1``: SQuAD token F1 ≥ ``threshold``.
- ``anls``: ANLS (1 − normalized Levenshtein, 0 below 0.5 similarity; DocVQA) ≥ ``threshold``.
- ``judge``: an LLM judge answers "Is the prediction correct?" via P(Yes) ≥ 0.5, with a wall-clock
  timeout; a timeout or an error scores 0 and is counted (VRAG-RL used a model-based reward, qwen-max).

The metrics are those of ``vimrag.eval.metrics`` (HotpotQA/SQuAD normalization, DocVQA ANLS), so the
reward agrees with the EM/F1/ANLS the evaluation reports.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vimrag.errors import ConfigError
from vimrag.eval.metrics import anls as metrics_anls
from vimrag.eval.metrics import exact_match, normalize_answer, token_f1

__all__ = ["REWARDS", "RewardFn", "anls", "exact_match", "f1_score", "make_reward", "normalize_answer"]

REWARDS = ("em", "f1", "anls", "judge")

# One implementation of the answer metrics: the reward must agree with what the evaluation reports.
f1_score = token_f1


def anls(prediction: str, gold: str, tau: float = 0.5) -> float:
    """Average Normalized Levenshtein Similarity for one pair (DocVQA): 0 when NL ≥ τ."""
    return metrics_anls(prediction, [gold], tau)


def _aliases(gold: str | Sequence[str]) -> list[str]:
    return [gold] if isinstance(gold, str) else [str(g) for g in gold]


@dataclass
class RewardFn:
    """Callable ``(question, prediction, gold) -> float`` in {0, 1}; ``stats`` counts judge timeouts."""

    kind: str = "em"
    threshold: float = 0.5
    judge: Any = None  # a LanguageModel with yes_probability, for kind="judge"
    timeout_s: float = 30.0
    stats: dict[str, int] = field(default_factory=lambda: {"calls": 0, "timeouts": 0, "errors": 0})

    def __post_init__(self) -> None:
        if self.kind not in REWARDS:
            raise ConfigError(f"unknown train.reward {self.kind!r}; choose one of {', '.join(REWARDS)}")
        if self.kind == "judge" and self.judge is None:
            raise ConfigError("train.reward = 'judge' needs a judge model (train.judge_model or models.llm)")

    def __call__(self, question: str, prediction: str, gold: str | Sequence[str]) -> float:
        self.stats["calls"] += 1
        golds = _aliases(gold)
        if self.kind == "em":
            return float(max(exact_match(prediction, g) for g in golds) >= 1.0)
        if self.kind == "f1":
            return float(max(f1_score(prediction, g) for g in golds) >= self.threshold)
        if self.kind == "anls":
            return float(max(anls(prediction, g) for g in golds) >= self.threshold)
        return self._judge(question, prediction, golds)

    def _judge(self, question: str, prediction: str, golds: list[str]) -> float:
        if not str(prediction).strip():
            return 0.0
        prompt = (
            "You grade answers. Question: " + question + "\nReference answer(s): " + " | ".join(golds)
            + "\nCandidate answer: " + str(prediction)
            + "\nDoes the candidate answer mean the same as a reference answer? Answer Yes or No."
        )
        ex = cf.ThreadPoolExecutor(max_workers=1)
        fut = ex.submit(self.judge.yes_probability, prompt)
        try:
            p = float(fut.result(timeout=self.timeout_s))
        except cf.TimeoutError:
            self.stats["timeouts"] += 1
            return 0.0
        except Exception:  # a judge failure must not kill a training run; it is counted and scored 0
            self.stats["errors"] += 1
            return 0.0
        finally:
            ex.shutdown(wait=False, cancel_futures=True)
        return float(p >= 0.5)


def make_reward(kind: str, threshold: float = 0.5, *, judge: Any = None, timeout_s: float = 30.0) -> RewardFn:
    return RewardFn(kind=kind, threshold=threshold, judge=judge, timeout_s=timeout_s)


RewardCallable = Callable[[str, str, "str | Sequence[str]"], float]
