from __future__ import annotations

import time

import pytest

from vimrag.errors import ConfigError
from vimrag.train.rewards import anls, f1_score, make_reward


def test_em_f1_anls_rewards():
    em = make_reward("em")
    assert em("q", "The Eiffel Tower!", ["eiffel tower"]) == 1.0
    assert em("q", "Eiffel", "eiffel tower") == 0.0
    assert f1_score("eiffel", "eiffel tower") == pytest.approx(2 / 3)
    assert make_reward("f1", 0.6)("q", "eiffel", "eiffel tower") == 1.0
    assert make_reward("f1", 0.7)("q", "eiffel", "eiffel tower") == 0.0
    assert anls("4821", "4822") == pytest.approx(0.75)
    assert anls("4821", "4812") == 0.0  # NL = 0.5 is not < τ
    assert anls("abcd", "wxyz") == 0.0
    assert make_reward("anls", 0.5)("q", "4821", ["4812", "4822"]) == 1.0


class _SlowJudge:
    def __init__(self, delay: float, p: float = 0.9) -> None:
        self.delay, self.p = delay, p

    def yes_probability(self, prompt: str, images=None) -> float:
        time.sleep(self.delay)
        return self.p


def test_judge_reward_and_timeout():
    assert make_reward("judge", judge=_SlowJudge(0.0))("q", "Paris", ["paris"]) == 1.0
    assert make_reward("judge", judge=_SlowJudge(0.0, 0.1))("q", "Rome", ["paris"]) == 0.0
    slow = make_reward("judge", judge=_SlowJudge(2.0), timeout_s=0.1)
    t0 = time.perf_counter()
    assert slow("q", "Paris", ["paris"]) == 0.0
    assert time.perf_counter() - t0 < 1.0 and slow.stats["timeouts"] == 1


def test_bad_reward_config():
    with pytest.raises(ConfigError, match="unknown train.reward"):
        make_reward("bleu")
    with pytest.raises(ConfigError, match="judge model"):
        make_reward("judge")
