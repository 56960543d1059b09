"""Loss math against hand computations (VimRAG §3.3 on GSPO; GRPO token-level baseline; k3 KL)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from vimrag.errors import ConfigError  # noqa: E402
from vimrag.train.loss import group_advantages, grouped_advantages, policy_loss  # noqa: E402


def test_group_advantages_hand_values():
    a = group_advantages([1.0, 0.0, 0.0, 1.0], eps=0.0)
    std = math.sqrt(4 * 0.25 / 3)  # unbiased
    assert torch.allclose(a, torch.tensor([0.5, -0.5, -0.5, 0.5]) / std)
    assert torch.equal(group_advantages([1.0, 1.0, 1.0]), torch.zeros(3))  # no signal
    assert torch.equal(group_advantages([1.0]), torch.zeros(1))


def test_grouped_advantages_normalize_within_each_question():
    a = grouped_advantages([1, 0, 1, 1, 0, 0], ["q1", "q1", "q1", "q2", "q2", "q2"], eps=0.0)
    assert torch.allclose(a[:3], group_advantages([1, 0, 1], eps=0.0))
    assert torch.allclose(a[3:], group_advantages([1, 0, 0], eps=0.0))


def _batch():
    # 3 steps × 4 token slots; the first slot of each is a prompt token (mask 0)
    logp = torch.tensor([[0.0, -1.0, -2.0, -0.5], [0.0, -0.3, -0.7, 0.0], [0.0, -1.5, -0.2, -0.9]])
    old = torch.tensor([[0.0, -1.1, -1.9, -0.45], [0.0, -0.3, -0.9, 0.0], [0.0, -1.4, -0.25, -1.0]])
    mask = torch.tensor([[0, 1, 1, 1], [0, 1, 1, 0], [0, 1, 1, 1]], dtype=torch.float32)
    adv = torch.tensor([0.8, -0.5, 1.2])
    return logp, old, mask, adv


def test_gspo_matches_hand_computation():
    logp, old, mask, adv = _batch()
    lo, hi = 0.05, 0.1
    out = policy_loss(logp.clone().requires_grad_(), old, mask, adv, algorithm="gspo", clip_low=lo, clip_high=hi)
    want = 0.0
    for i in range(3):
        toks = [k for k in range(4) if mask[i, k] > 0]
        s = math.exp(sum(float(logp[i, k] - old[i, k]) for k in toks) / len(toks))
        a = float(adv[i])
        want += -min(s * a, min(max(s, 1 - lo), 1 + hi) * a)
    assert float(out.loss) == pytest.approx(want / 3, rel=1e-5)


def test_grpo_matches_hand_computation():
    logp, old, mask, adv = _batch()
    eps = 0.05
    out = policy_loss(logp, old, mask, adv, algorithm="grpo", clip_eps=eps)
    want = 0.0
    for i in range(3):
        toks = [k for k in range(4) if mask[i, k] > 0]
        a = float(adv[i])
        terms = []
        for k in toks:
            r = math.exp(float(logp[i, k] - old[i, k]))
            terms.append(min(r * a, min(max(r, 1 - eps), 1 + eps) * a))
        want += -sum(terms) / len(toks)
    assert float(out.loss) == pytest.approx(want / 3, rel=1e-5)


def test_k3_kl_matches_hand_computation():
    logp, old, mask, adv = _batch()
    ref = logp - 0.1 * torch.arange(4).float()
    zero_adv = torch.zeros(3)
    out = policy_loss(logp, old, mask, zero_adv, algorithm="gspo", ref_logp=ref, kl_coef=0.5)
    want = 0.0
    for i in range(3):
        toks = [k for k in range(4) if mask[i, k] > 0]
        d = [float(ref[i, k] - logp[i, k]) for k in toks]
        want += 0.5 * sum(math.exp(x) - x - 1 for x in d) / len(toks)
    assert float(out.loss) == pytest.approx(want / 3, rel=1e-5)


def test_clipping_stops_gradient_beyond_the_trust_region():
    logp = torch.tensor([[0.0, -0.5, -0.5]], requires_grad=True)
    old = torch.tensor([[0.0, -1.0, -1.0]])  # s = e^0.5 ≫ 1 + ε_high
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    policy_loss(logp, old, mask, torch.tensor([1.0]), algorithm="gspo").loss.backward()
    assert torch.count_nonzero(logp.grad) == 0


def test_ggpo_prunes_exactly_and_leaves_other_steps_as_gspo():
    logp, old, mask, adv = _batch()
    masked = torch.tensor([False, True, False])
    lp1 = logp.clone().requires_grad_()
    lp2 = logp.clone().requires_grad_()
    g = policy_loss(lp1, old, mask, adv, masked, algorithm="ggpo", clip_low=0.5, clip_high=0.5)
    s = policy_loss(lp2, old, mask, adv, masked, algorithm="gspo", clip_low=0.5, clip_high=0.5)
    g.loss.backward()
    s.loss.backward()
    assert torch.count_nonzero(lp1.grad[1]) == 0  # pruned step: exactly zero
    assert torch.count_nonzero(lp2.grad[1]) > 0  # GSPO without pruning trains it
    assert torch.equal(lp1.grad[[0, 2]], lp2.grad[[0, 2]])  # same normalizer N: other steps identical
    assert g.stats["masked_steps"] == 1.0


def test_pruned_step_with_overflowing_ratio_still_gives_zero_gradient():
    logp = torch.tensor([[0.0, -1.0], [0.0, -1.0]], requires_grad=True)
    old = torch.tensor([[0.0, -1.0], [0.0, -1e5]])  # ratio of step 1 overflows to inf
    mask = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    out = policy_loss(logp, old, mask, torch.tensor([1.0, -1.0]), torch.tensor([False, True]), algorithm="ggpo")
    out.loss.backward()
    assert torch.isfinite(logp.grad).all() and torch.count_nonzero(logp.grad[1]) == 0


def test_all_pruned_gives_zero_loss_and_gradient():
    logp = torch.zeros(2, 3, requires_grad=True)
    out = policy_loss(logp, logp.detach(), torch.ones(2, 3), torch.ones(2), torch.tensor([True, True]))
    out.loss.backward()
    assert float(out.loss) == 0.0 and torch.count_nonzero(logp.grad) == 0


def test_unknown_algorithm_is_a_config_error():
    with pytest.raises(ConfigError, match="ggpo"):
        policy_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1), algorithm="ppo")
