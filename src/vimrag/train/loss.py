"""GGPO / GSPO / GRPO policy losses as pure tensor functions (VimRAG §3.3, GSPO arXiv 2507.18071).

For the G trajectories {τ_i} of one question with outcome rewards r_i:

    Â_i = (r_i − mean_j r_j) / (std_j r_j + eps)            group-normalized outcome advantage

Â_i is broadcast to every step t of τ_i. Each step is one "sequence" y for the importance ratio
(the atomic reasoning cycle, see :mod:`vimrag.train.segment`):

    GSPO/GGPO:  s_t = exp( (1/|y_t|) Σ_k log π_θ(y_t,k | x_t, y_t,<k) − log π_old(·) )   (per step)
                J_t = min( s_t Â, clip(s_t, 1 − ε_low, 1 + ε_high) Â )
    GRPO:       ρ_t,k = π_θ / π_old per token;  J_t = mean_k min(ρ Â, clip(ρ, 1 − ε, 1 + ε) Â)

    KL (optional, k3 estimator): KL_t = mean_k [ exp(q − p) − (q − p) − 1 ],  q = log π_ref, p = log π_θ

    L = (1/N) Σ_t (1 − μ_t) · ( −J_t + β KL_t ),   N = number of trainable steps in the batch.

μ_t is GGPO's mask (:func:`vimrag.train.masks.ggpo_mask`); ``gspo`` and ``grpo`` ignore it (the ablation
baselines "GSPO without pruning" and token-level GRPO). Choices made here:

- N counts *all* steps, masked or not: pruning removes terms from the sum without re-weighting the
  others, so an unmasked step's gradient is identical under GGPO and GSPO (tested). This is verl's
  ``seq-mean-token-mean`` aggregation with pruned sequences contributing 0.
- Masked steps are *selected out* before any arithmetic (not multiplied by 0), so they contribute
  exactly zero gradient even if their ratio overflowed.
- The std is the unbiased one (as ``torch.std`` / verl's GRPO estimator); a group of one, or a group with
  equal rewards, gets advantage 0 — no signal, as in GRPO.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vimrag._extras import require
from vimrag.errors import ConfigError

ALGORITHMS = ("ggpo", "gspo", "grpo")


def _torch() -> Any:
    return require("torch", "train")


def group_advantages(rewards: Any, eps: float = 1e-6) -> Any:
    """Â_i = (r_i − mean) / (std + eps) over one group (1-D tensor); zeros when the group has < 2 samples."""
    torch = _torch()
    r = torch.as_tensor(rewards, dtype=torch.float32)
    if r.numel() < 2:
        return torch.zeros_like(r)
    return (r - r.mean()) / (r.std() + eps)


def grouped_advantages(rewards: Sequence[float], groups: Sequence[Hashable], eps: float = 1e-6) -> Any:
    """Advantages for a flat batch whose trajectories belong to groups (one group per question)."""
    torch = _torch()
    if len(rewards) != len(groups):
        raise ValueError(f"{len(rewards)} rewards for {len(groups)} group labels")
    out = torch.zeros(len(rewards), dtype=torch.float32)
    index: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        index.setdefault(g, []).append(i)
    for idx in index.values():
        out[idx] = group_advantages([rewards[i] for i in idx], eps)
    return out


def token_logprobs(logits: Any, input_ids: Any) -> Any:
    """log π(x_k | x_<k) for positions 1..T−1, shape [B, T] with position 0 set to 0 (aligned to ids)."""
    torch = _torch()
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return torch.cat([torch.zeros_like(picked[:, :1]), picked], dim=1)


@dataclass
class LossOutput:
    loss: Any  # scalar tensor (0-dim), differentiable
    stats: dict[str, float] = field(default_factory=dict)


def policy_loss(
    logp: Any,
    old_logp: Any,
    loss_mask: Any,
    advantages: Any,
    step_mask: Any | None = None,
    *,
    algorithm: str = "ggpo",
    clip_eps: float = 0.2,
    clip_low: float = 3e-4,
    clip_high: float = 4e-4,
    ref_logp: Any | None = None,
    kl_coef: float = 0.0,
    normalizer: float | None = None,
) -> LossOutput:
    """The per-batch loss L above for S steps padded to T tokens.

    Args:
        logp, old_logp, ref_logp: [S, T] per-token log-probs under π_θ (differentiable), π_old, π_ref.
        loss_mask: [S, T], 1 on the step's completion tokens (never on prompt/observation tokens).
        advantages: [S], Â of the trajectory each step belongs to.
        step_mask: [S] bool, μ_t (True = pruned); used by ``ggpo`` only.
        normalizer: N; defaults to S. Pass the full batch's step count when calling per micro-batch.
    """
    torch = _torch()
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown train.algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    S = logp.shape[0]
    n = float(normalizer if normalizer is not None else S)
    keep = torch.ones(S, dtype=torch.bool, device=logp.device)
    if algorithm == "ggpo" and step_mask is not None:
        keep = ~torch.as_tensor(step_mask, dtype=torch.bool, device=logp.device)
    idx = keep.nonzero(as_tuple=True)[0]
    stats: dict[str, float] = {"steps": float(S), "masked_steps": float(S - idx.numel())}
    if idx.numel() == 0:
        zero = (logp * 0.0).sum() * 0.0  # keeps the graph, exactly-zero gradient
        stats.update(pg_loss=0.0, kl=0.0, clip_frac=0.0, ratio_mean=1.0)
        return LossOutput(zero, stats)
    lp, olp, m = logp[idx], old_logp[idx].detach(), loss_mask[idx].float()
    adv = torch.as_tensor(advantages, dtype=lp.dtype, device=lp.device)[idx].detach()
    ntok = m.sum(-1).clamp(min=1.0)
    log_ratio = (lp - olp) * m
    if algorithm in ("ggpo", "gspo"):
        seq_log_ratio = log_ratio.sum(-1) / ntok
        ratio = torch.exp(seq_log_ratio)
        clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
        obj = torch.minimum(ratio * adv, clipped * adv)
        clip_frac = ((ratio * adv) > (clipped * adv)).float().mean()
        ratio_mean = ratio.mean()
    else:  # grpo: token-level ratio
        ratio = torch.exp(log_ratio)
        clipped = ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps)
        a = adv.unsqueeze(-1)
        tok_obj = torch.minimum(ratio * a, clipped * a)
        obj = (tok_obj * m).sum(-1) / ntok
        clip_frac = ((((ratio * a) > (clipped * a)).float() * m).sum() / m.sum().clamp(min=1.0))
        ratio_mean = (ratio * m).sum() / m.sum().clamp(min=1.0)
    per_step = -obj
    kl_val = torch.zeros((), dtype=lp.dtype)
    if ref_logp is not None and kl_coef:
        delta = (ref_logp[idx].detach() - lp) * m
        k3 = (torch.exp(delta) - delta - 1.0) * m
        kl_step = k3.sum(-1) / ntok
        per_step = per_step + kl_coef * kl_step
        kl_val = kl_step.mean()
    loss = per_step.sum() / n
    stats.update(
        pg_loss=float((-obj).sum().detach() / n),
        kl=float(kl_val.detach()),
        clip_frac=float(clip_frac.detach()),
        ratio_mean=float(ratio_mean.detach()),
    )
    return LossOutput(loss, stats)
