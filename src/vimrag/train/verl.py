"""Scale-out: GGPO inside verl (volcengine/verl, on Ray) — a data converter and an advantage estimator.

We do not write a distributed trainer. At scale, trajectories come from the serving agent (its policy
behind vLLM through the OpenAI-compatible backend), and verl's FSDP/Megatron actor does the update.
This module provides the two pieces verl needs (see docs/training.md for a worked config):

1. :func:`trajectory_to_samples` / :func:`to_verl_batch`: one verl sample per *step* (the atomic
   reasoning cycle): ``prompts`` (left-padded chat-template ids), ``responses`` (the policy's own
   completion ids, right-padded), ``response_mask`` (1 on completion tokens; all 0 for a step GGPO
   prunes, so verl's masked policy loss gives it exactly zero gradient), ``token_level_scores`` (the
   trajectory's outcome reward on the last response token), and non-tensor ``uid`` =
   ``"<question>::<trajectory>"``.
2. :func:`compute_ggpo_outcome_advantage`: verl's custom-estimator signature
   ``(token_level_rewards, response_mask, index, epsilon, norm_adv_by_std_in_grpo, config, **kw) →
   (advantages, returns)``. It normalizes rewards over the G *trajectories* of a question (not over
   steps, which would over-weight long trajectories): the group is the part of ``uid`` before ``::``
   and each trajectory counts once. Register it with :func:`register_with_verl` and set
   ``algorithm.adv_estimator=ggpo``; pair it with verl's GSPO loss (``policy_loss.loss_mode=gspo``).

verl is imported only inside :func:`register_with_verl` and :func:`to_dataproto`; the converter and the
estimator run with numpy/torch alone (tested without verl).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vimrag._extras import require
from vimrag.train.masks import as_trajectory_dict
from vimrag.train.segment import segment_trajectory, tokenize_step

GROUP_SEP = "::"


def trajectory_to_samples(
    trajectory: Any,
    reward: float,
    mask: Sequence[bool] | None,
    tokenizer: Any,
    *,
    question_id: str,
    trajectory_id: str,
    prune: bool = True,
    max_prompt_tokens: int = 4096,
    max_response_tokens: int = 1024,
    recorded: Any = None,
) -> list[dict[str, Any]]:
    """One dict per trainable step: prompt_ids, response_ids, response_mask, reward, uid, step, masked."""
    traj = as_trajectory_dict(trajectory)
    out = []
    for seg in segment_trajectory(traj, mask=mask):
        tok = tokenize_step(tokenizer, seg.messages, seg.completion, max_prompt_tokens=max_prompt_tokens,
                            recorded=recorded)
        prompt_ids = tok.input_ids[: tok.prompt_len]
        response_ids = tok.input_ids[tok.prompt_len:][:max_response_tokens]
        live = 0 if (prune and seg.masked) else 1
        out.append({
            "prompt_ids": prompt_ids,
            "response_ids": response_ids,
            "response_mask": [live] * len(response_ids),
            "reward": float(reward),
            "uid": f"{question_id}{GROUP_SEP}{trajectory_id}",
            "step": seg.step,
            "action": seg.action,
            "masked": bool(seg.masked),
        })
    return out


def to_verl_batch(samples: Sequence[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """Pad samples into verl's batch layout (numpy): tensors + ``non_tensor`` (uid, step, masked)."""
    np = require("numpy", "train")
    if not samples:
        raise ValueError("no samples to convert")
    P = max(len(s["prompt_ids"]) for s in samples)
    R = max(len(s["response_ids"]) for s in samples)
    B = len(samples)
    prompts = np.full((B, P), pad_id, dtype=np.int64)
    responses = np.full((B, R), pad_id, dtype=np.int64)
    p_att = np.zeros((B, P), dtype=np.int64)
    r_att = np.zeros((B, R), dtype=np.int64)
    r_mask = np.zeros((B, R), dtype=np.int64)
    scores = np.zeros((B, R), dtype=np.float32)
    for i, s in enumerate(samples):
        p, r = s["prompt_ids"], s["response_ids"]
        prompts[i, P - len(p):] = p  # left padding, as verl's rollout produces
        p_att[i, P - len(p):] = 1
        responses[i, : len(r)] = r
        r_att[i, : len(r)] = 1
        r_mask[i, : len(r)] = s["response_mask"]
        if r:
            scores[i, len(r) - 1] = s["reward"]
    attention = np.concatenate([p_att, r_att], axis=1)
    position = np.clip(np.cumsum(attention, axis=1) - 1, 0, None)
    return {
        "prompts": prompts,
        "responses": responses,
        "input_ids": np.concatenate([prompts, responses], axis=1),
        "attention_mask": attention,
        "position_ids": position,
        "response_mask": r_mask,
        "token_level_scores": scores,
        "non_tensor": {
            "uid": np.array([s["uid"] for s in samples], dtype=object),
            "step": np.array([s["step"] for s in samples], dtype=object),
            "ggpo_masked": np.array([s["masked"] for s in samples], dtype=object),
        },
    }


def to_dataproto(batch: dict[str, Any]) -> Any:
    """A ``verl.DataProto`` from :func:`to_verl_batch` output (needs verl installed)."""
    torch = require("torch", "train")
    verl = require("verl", "train", package="verl")
    tensors = {k: torch.as_tensor(v) for k, v in batch.items() if k != "non_tensor"}
    tensors["token_level_rewards"] = tensors["token_level_scores"].clone()
    return verl.DataProto.from_dict(tensors=tensors, non_tensors=dict(batch["non_tensor"]))


def compute_ggpo_outcome_advantage(
    token_level_rewards: Any,
    response_mask: Any,
    index: Any,
    epsilon: float = 1e-6,
    norm_adv_by_std_in_grpo: bool = True,
    config: Any = None,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """verl-signature estimator: Â over trajectories of a question, broadcast to steps, pruned steps 0.

    ``index[i]`` is ``"<question>::<trajectory>"`` (plain question ids work too: then every sample is its
    own trajectory, which is GRPO's behaviour). Pruned steps already carry ``response_mask`` = 0.
    """
    torch = require("torch", "train")
    scores = token_level_rewards.sum(dim=-1)
    groups: dict[str, dict[str, float]] = {}
    keys = []
    for i, uid in enumerate(index):
        uid = str(uid)
        q, _, t = uid.partition(GROUP_SEP)
        t = t or str(i)
        keys.append((q, t))
        groups.setdefault(q, {})[t] = float(scores[i])
    adv = torch.zeros_like(scores)
    for i, (q, t) in enumerate(keys):
        vals = torch.tensor(list(groups[q].values()), dtype=torch.float32)
        if vals.numel() < 2:
            continue
        a = float(groups[q][t]) - float(vals.mean())
        if norm_adv_by_std_in_grpo:
            a = a / (float(vals.std()) + epsilon)
        adv[i] = a
    advantages = adv.unsqueeze(-1) * response_mask.to(adv.dtype)
    return advantages, advantages


def register_with_verl(name: str = "ggpo") -> None:
    """Register :func:`compute_ggpo_outcome_advantage` as ``algorithm.adv_estimator=<name>`` in verl."""
    core_algos = require("verl.trainer.ppo.core_algos", "train", package="verl")
    core_algos.register_adv_est(name)(compute_ggpo_outcome_advantage)
