"""Step segmentation: a trajectory → its atomic reasoning cycles, each a (prompt, completion) pair.

VimRAG's agent does one action per step, each from its own prompt (the budgeted context of the memory
graph at that step). Training therefore works per step, not on one concatenated dialogue: step t's
sample is the exact prompt messages the policy saw and the policy's own completion. Observations
(retrieved evidence, memorize results) only ever appear inside later prompts, so they are never loss
tokens: the loss mask is 1 exactly on the completion's tokens (VimRAG §3.3, "observation tokens are
masked"; the same role as verl's ``response_mask`` / VRAG-RL's ``state_masking``).

Token ids are built with the policy tokenizer's chat template (``add_generation_prompt=True``), the same
rendering :class:`vimrag.train.policy.TransformersPolicy` used at generation time. When the policy
recorded the exact sampled token ids for a (prompt, completion) pair, those are used; otherwise the
completion text is re-tokenised and the end-of-turn token appended (the policy stopped there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vimrag.errors import TrajectoryError
from vimrag.train.masks import as_trajectory_dict


@dataclass
class StepSegment:
    """One trainable reasoning cycle of one trajectory."""

    trajectory: int  # index of the trajectory in its batch
    step: int  # index of the step in the trajectory
    action: str
    messages: list[dict[str, str]]
    completion: str
    masked: bool = False  # GGPO μ_t (True = no gradient)


@dataclass
class TokenizedStep:
    """Token ids of prompt+completion with ``loss_mask`` = 1 on completion tokens only."""

    input_ids: list[int]
    loss_mask: list[int]
    prompt_len: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def completion_len(self) -> int:
        return len(self.input_ids) - self.prompt_len


def is_trainable(step: Mapping[str, Any]) -> bool:
    """A step is trainable when the policy produced it: non-empty completion and a prompt."""
    return bool(step.get("completion")) and bool(step.get("messages"))


def segment_trajectory(
    trajectory: Any, *, mask: Sequence[bool] | None = None, trajectory_index: int = 0
) -> list[StepSegment]:
    """Split a trajectory (JSON dict or object with ``to_json``) into its trainable steps.

    ``mask`` (from :func:`vimrag.train.masks.ggpo_mask`) must have one entry per step, trainable or not.
    """
    traj = as_trajectory_dict(trajectory)
    steps = traj.get("steps")
    if not isinstance(steps, list):
        raise TrajectoryError("trajectory has no 'steps' list")
    if mask is not None and len(mask) != len(steps):
        raise TrajectoryError(f"mask has {len(mask)} entries for {len(steps)} steps")
    out = []
    for i, step in enumerate(steps):
        if not is_trainable(step):
            continue
        messages = [{"role": str(m["role"]), "content": str(m.get("content", ""))} for m in step["messages"]]
        out.append(
            StepSegment(
                trajectory=trajectory_index,
                step=int(step.get("index", i)),
                action=str(step.get("action", "")),
                messages=messages,
                completion=str(step["completion"]),
                masked=bool(mask[i]) if mask is not None else False,
            )
        )
    return out


def render_prompt(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> str:
    """The prompt string exactly as the policy saw it: the chat template with the generation prompt."""
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True))
    # no template: a plain role-tagged transcript (documented fallback, used identically at generation)
    text = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
    return text + "assistant: "


def generation_key(prompt: str, completion: str) -> str:
    """Key under which a policy records the exact token ids it sampled for (prompt, completion)."""
    return hashlib.sha1(f"{prompt}\x00{completion}".encode()).hexdigest()


def end_of_turn_id(tokenizer: Any) -> int | None:
    """The token that ends an assistant turn (``<|im_end|>`` for ChatML/Qwen, else eos)."""
    for tok in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
        tid = tokenizer.convert_tokens_to_ids(tok) if tok in tokenizer.get_vocab() else None
        if tid is not None:
            return int(tid)
    return int(tokenizer.eos_token_id) if tokenizer.eos_token_id is not None else None


def tokenize_step(
    tokenizer: Any,
    messages: Sequence[Mapping[str, str]],
    completion: str,
    *,
    max_prompt_tokens: int = 2048,
    recorded: Mapping[str, tuple[list[int], list[int]]] | None = None,
) -> TokenizedStep:
    """Prompt ids (chat template) + completion ids; only the completion gets ``loss_mask`` = 1.

    A prompt longer than ``max_prompt_tokens`` is cut from the left: the most recent context stays,
    which is what the model conditions on most; the cut is recorded in ``meta["prompt_cut"]``.
    """
    prompt = render_prompt(tokenizer, messages)
    key = generation_key(prompt, completion)
    if recorded is not None and key in recorded:
        prompt_ids, completion_ids = (list(x) for x in recorded[key])
        exact = True
    else:
        prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        completion_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
        eot = end_of_turn_id(tokenizer)
        if eot is not None:
            completion_ids.append(eot)
        exact = False
    if not completion_ids:
        raise TrajectoryError("a trainable step has an empty completion after tokenisation")
    cut = max(0, len(prompt_ids) - max_prompt_tokens)
    if cut:
        prompt_ids = prompt_ids[cut:]
    ids = prompt_ids + completion_ids
    return TokenizedStep(
        input_ids=ids,
        loss_mask=[0] * len(prompt_ids) + [1] * len(completion_ids),
        prompt_len=len(prompt_ids),
        meta={"exact_ids": exact, "prompt_cut": cut},
    )
