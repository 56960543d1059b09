"""Single-machine GGPO trainer (PyTorch; CPU works with small models).

One optimiser step = ``questions_per_step`` questions × G rollouts through the serving agent →
outcome rewards → GGPO masks → per-step samples (prompt, own completion) → GSPO/GGPO/GRPO loss →
gradient accumulation over steps (one step per forward, no padding) → clip → AdamW step.

Exactness shortcuts, each equal to the full computation:
- π_old = the policy that sampled, i.e. the current weights before the update. With ``ppo_epochs = 1``
  old log-probs are the detached current ones from the same forward (ratio = 1, as GSPO on-policy).
- A step contributes nothing when it is pruned (μ_t = 1) or its advantage is 0 without KL; such steps
  are not forwarded at all but still count in the loss normalizer N (see :mod:`vimrag.train.loss`).
- With LoRA, π_ref is the base model (adapters disabled), so KL needs no second copy of the weights.

Outputs under ``train.output_dir``: ``metrics.jsonl`` (one line per optimiser step), ``checkpoints/step-K``
(trainable weights, optimiser, RNG, step) with ``checkpoints/latest`` naming the newest, and
``export/`` (the LoRA adapter or full model via ``save_pretrained`` plus the tokenizer).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vimrag._extras import require
from vimrag.config import Config, TrainConfig, load_config
from vimrag.errors import ConfigError
from vimrag.train.loss import ALGORITHMS, LossOutput, grouped_advantages, policy_loss, token_logprobs
from vimrag.train.rewards import make_reward
from vimrag.train.rollout import AgentFn, Rollout, TrainExample, collect_group, load_examples, make_agent_fn
from vimrag.train.segment import TokenizedStep, segment_trajectory, tokenize_step


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    metrics: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None

    def to_json(self) -> dict[str, Any]:
        last = self.metrics[-1] if self.metrics else {}
        return {"output_dir": str(self.output_dir), "steps": self.steps,
                "checkpoint": str(self.checkpoint) if self.checkpoint else None, "last": last}


def step_loss(
    model: Any,
    tok: TokenizedStep,
    advantage: float,
    masked: bool,
    cfg: TrainConfig,
    *,
    normalizer: float,
    old_logp: Any | None = None,
    ref_logp: Any | None = None,
) -> tuple[LossOutput, Any]:
    """Forward one step (prompt + own completion) and its term of L; ``old_logp=None`` = on-policy."""
    torch = require("torch", "train")
    ids = torch.tensor([tok.input_ids])
    lmask = torch.tensor([tok.loss_mask], dtype=torch.float32)
    logp = token_logprobs(model(input_ids=ids).logits, ids)
    old = logp.detach() if old_logp is None else old_logp
    out = policy_loss(
        logp, old, lmask, torch.tensor([advantage]), torch.tensor([masked]),
        algorithm=cfg.algorithm, clip_eps=cfg.clip_eps, clip_low=cfg.gspo_clip_low,
        clip_high=cfg.gspo_clip_high, ref_logp=ref_logp, kl_coef=cfg.kl_coef, normalizer=normalizer,
    )
    return out, logp


class GGPOTrainer:
    """Trains ``policy`` (a :class:`~vimrag.train.policy.TransformersPolicy`) with GGPO or a baseline."""

    def __init__(
        self,
        policy: Any,
        agent_fn: AgentFn,
        examples: Sequence[TrainExample],
        train: TrainConfig,
        *,
        reward_fn: Callable[[str, str, Sequence[str]], float] | None = None,
        output_dir: str | Path | None = None,
        progress: bool = True,
    ) -> None:
        if train.algorithm not in ALGORITHMS:
            raise ConfigError(f"unknown train.algorithm {train.algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
        if train.group_size < 2:
            raise ConfigError("train.group_size must be ≥ 2: the advantage is normalized within a group")
        if not examples:
            raise ConfigError("no training questions")
        torch = require("torch", "train")
        self.torch = torch
        self.policy = policy
        self.agent_fn = agent_fn
        self.examples = list(examples)
        self.cfg = train
        self.reward_fn = reward_fn or make_reward(train.reward, train.reward_threshold)
        self.output_dir = Path(output_dir or train.output_dir)
        self.progress = progress
        self.params = [p for p in policy.model.parameters() if p.requires_grad]
        if not self.params:
            raise ConfigError("the policy has no trainable parameters")
        self.optimizer = torch.optim.AdamW(self.params, lr=train.lr, weight_decay=0.0)
        self.step_done = 0
        self._ref = None
        if train.kl_coef and not hasattr(policy.model, "disable_adapter"):
            import copy

            self._ref = copy.deepcopy(policy.model).eval()
            for p in self._ref.parameters():
                p.requires_grad_(False)

    # -- data order ------------------------------------------------------------------------------------
    def batch_examples(self, step: int) -> list[TrainExample]:
        """Questions of optimiser step ``step``: a seeded shuffle per epoch, cycled (deterministic on resume)."""
        n, k = len(self.examples), self.cfg.questions_per_step
        out = []
        for j in range(step * k, step * k + k):
            epoch, pos = divmod(j, n)
            order = list(range(n))
            random.Random(self.cfg.seed * 100_003 + epoch).shuffle(order)
            out.append(self.examples[order[pos]])
        return out

    # -- one optimiser step ------------------------------------------------------------------------------
    def _ref_logp(self, ids: Any) -> Any:
        torch = self.torch
        with torch.no_grad():
            if self._ref is not None:
                return token_logprobs(self._ref(input_ids=ids).logits, ids)
            with self.policy.model.disable_adapter():
                return token_logprobs(self.policy.model(input_ids=ids).logits, ids)

    def step(self, step: int) -> dict[str, Any]:
        torch = self.torch
        cfg = self.cfg
        t0 = time.perf_counter()
        self.policy.recorded.clear()
        gen0 = self.policy.generated_tokens
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        rollouts: list[Rollout] = []
        for ex in self.batch_examples(step):
            rollouts.extend(
                collect_group(self.agent_fn, ex, cfg.group_size, self.reward_fn, score_threshold=cfg.memorize_score_valid)
            )
        t_roll = time.perf_counter() - t0
        rewards = [r.reward for r in rollouts]
        adv = grouped_advantages(rewards, [r.example.id for r in rollouts], cfg.adv_eps)

        segs = []
        for i, r in enumerate(rollouts):
            segs.extend(segment_trajectory(r.trajectory, mask=r.mask, trajectory_index=i))
        n_steps = len(segs)
        n_masked = sum(s.masked for s in segs)
        prune = cfg.algorithm == "ggpo"
        todo = [s for s in segs if not (prune and s.masked) and (float(adv[s.trajectory]) != 0.0 or cfg.kl_coef)]
        tokenized = [
            tokenize_step(self.policy.tokenizer, s.messages, s.completion, max_prompt_tokens=cfg.max_prompt_tokens,
                          recorded=self.policy.recorded)
            for s in todo
        ]
        t1 = time.perf_counter()
        model = self.policy.model
        model.train()
        stats_acc: dict[str, float] = {}
        loss_total = 0.0
        trained_tokens = 0
        old_cache: dict[int, Any] = {}
        for epoch in range(max(1, cfg.ppo_epochs)):
            self.optimizer.zero_grad(set_to_none=True)
            for j, (seg, tok) in enumerate(zip(todo, tokenized, strict=True)):
                if cfg.ppo_epochs > 1 and epoch > 0:
                    old_in = old_cache[j]
                else:
                    old_in = None
                ref = self._ref_logp(torch.tensor([tok.input_ids])) if cfg.kl_coef else None
                out, logp = step_loss(model, tok, float(adv[seg.trajectory]), seg.masked, cfg,
                                      normalizer=max(1, n_steps), old_logp=old_in, ref_logp=ref)
                if cfg.ppo_epochs > 1 and epoch == 0:
                    old_cache[j] = logp.detach()
                out.loss.backward()
                loss_total += float(out.loss.detach())
                for k in ("clip_frac", "ratio_mean", "kl"):
                    stats_acc[k] = stats_acc.get(k, 0.0) + out.stats.get(k, 0.0)
                if epoch == 0:
                    trained_tokens += int(sum(tok.loss_mask))
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)) if todo else 0.0
            if todo:
                self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        t_upd = time.perf_counter() - t1
        denom = max(1, len(todo) * max(1, cfg.ppo_epochs))
        by_q: dict[str, list[float]] = {}
        for r in rollouts:
            by_q.setdefault(r.example.id, []).append(r.reward)
        steps_per_traj = [len(r.trajectory.get("steps", [])) for r in rollouts]
        invalid = sum(1 for r in rollouts for s in r.trajectory.get("steps", []) if s.get("action") == "invalid")
        return {
            "step": step + 1,
            "algorithm": cfg.algorithm,
            "reward": sum(rewards) / len(rewards),
            "reward_by_question": {k: sum(v) / len(v) for k, v in by_q.items()},
            "loss": loss_total / max(1, cfg.ppo_epochs),
            "trainable_steps": n_steps,
            "masked_frac": n_masked / n_steps if n_steps else 0.0,
            "forwarded_steps": len(todo),
            "tokens_trained": trained_tokens,
            "tokens_generated": self.policy.generated_tokens - gen0,
            "agent_steps_mean": sum(steps_per_traj) / len(steps_per_traj),
            "invalid_frac": invalid / max(1, sum(steps_per_traj)),
            "grad_norm": grad_norm,
            "clip_frac": stats_acc.get("clip_frac", 0.0) / denom,
            "kl": stats_acc.get("kl", 0.0) / denom,
            "rollout_s": round(t_roll, 3),
            "update_s": round(t_upd, 3),
            "seconds": round(time.perf_counter() - t0, 3),
        }

    # -- checkpoints -------------------------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path:
        return self.output_dir / "checkpoints"

    def save_checkpoint(self) -> Path:
        torch = self.torch
        d = self.ckpt_dir / f"step-{self.step_done}"
        d.mkdir(parents=True, exist_ok=True)
        trainable = {n: p.detach().clone() for n, p in self.policy.model.named_parameters() if p.requires_grad}
        torch.save(trainable, d / "trainable.pt")
        torch.save(self.optimizer.state_dict(), d / "optimizer.pt")
        state = {"step": self.step_done, "algorithm": self.cfg.algorithm, "seed": self.cfg.seed,
                 "policy": getattr(self.policy, "name", ""), "python_rng": random.getstate()[1][:1]}
        (d / "state.json").write_text(json.dumps(state))
        tmp = self.ckpt_dir / "latest.tmp"
        tmp.write_text(d.name)
        tmp.replace(self.ckpt_dir / "latest")
        return d

    def load_checkpoint(self, d: Path | None = None) -> bool:
        """Restore the newest checkpoint (or ``d``); False when there is none."""
        torch = self.torch
        if d is None:
            latest = self.ckpt_dir / "latest"
            if not latest.is_file():
                return False
            d = self.ckpt_dir / latest.read_text().strip()
        if not (d / "trainable.pt").is_file():
            raise ConfigError(f"checkpoint {d} is incomplete (no trainable.pt)")
        weights = torch.load(d / "trainable.pt", map_location="cpu")
        missing = self.policy.model.load_state_dict(weights, strict=False)
        if missing.unexpected_keys:
            raise ConfigError(f"checkpoint {d} does not match the policy (unexpected {missing.unexpected_keys[:3]})")
        self.optimizer.load_state_dict(torch.load(d / "optimizer.pt", map_location="cpu"))
        self.step_done = int(json.loads((d / "state.json").read_text())["step"])
        return True

    def export(self) -> Path:
        d = self.output_dir / "export"
        self.policy.model.save_pretrained(str(d))
        self.policy.tokenizer.save_pretrained(str(d))
        return d

    # -- loop --------------------------------------------------------------------------------------------
    def train(self, steps: int | None = None, *, resume: bool | None = None) -> TrainResult:
        total = int(steps if steps is not None else self.cfg.steps)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if (self.cfg.resume if resume is None else resume):
            self.load_checkpoint()
        metrics_path = self.output_dir / "metrics.jsonl"
        rows: list[dict[str, Any]] = []
        ckpt: Path | None = None
        rich_progress = require("rich.progress", "train", package="rich")
        with rich_progress.Progress(
            rich_progress.TextColumn("[bold]{task.description}"),
            rich_progress.BarColumn(),
            rich_progress.MofNCompleteColumn(),
            rich_progress.TextColumn("{task.fields[info]}"),
            rich_progress.TimeRemainingColumn(),
            disable=not self.progress,
        ) as bar:
            task = bar.add_task(f"{self.cfg.algorithm}", total=total, completed=self.step_done, info="")
            while self.step_done < total:
                row = self.step(self.step_done)
                self.step_done += 1
                rows.append(row)
                with metrics_path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                if self.step_done % max(1, self.cfg.save_every) == 0 or self.step_done == total:
                    ckpt = self.save_checkpoint()
                bar.update(task, completed=self.step_done,
                           info=f"reward {row['reward']:.2f} loss {row['loss']:+.4f} masked {row['masked_frac']:.2f} "
                                f"{row['seconds']:.1f}s/step")
        return TrainResult(self.output_dir, self.step_done, rows, ckpt)


def _build_retriever(config: Config) -> tuple[Any, Any]:
    """The training memory: ``vimrag.Memory`` at ``store.uri``, with ``train.corpus`` ingested first."""
    from vimrag.memory import Memory

    mem = Memory(config)
    if config.train.corpus:
        mem.add([config.train.corpus])
    return mem, getattr(mem, "embedder", None)


def train_from_config(
    config: str | Path | Config,
    *,
    overrides: dict[str, Any] | None = None,
    retriever: Any = None,
    embedder: Any = None,
    progress: bool = True,
) -> TrainResult:
    """Entry point of ``vimrag train --config FILE``: build policy, memory, agent; train; export."""
    from vimrag.train.policy import TransformersPolicy

    cfg = config if isinstance(config, Config) else load_config(config, overrides=overrides)
    if isinstance(config, Config) and overrides:
        cfg = cfg.with_overrides(overrides)
    tc = cfg.train
    if not tc.questions:
        raise ConfigError("train.questions is empty: point it at a JSONL of {question, answer}")
    examples = load_examples(tc.questions)
    require("torch", "train").manual_seed(tc.seed)
    policy = TransformersPolicy.from_spec(
        tc.policy, lora=tc.lora, lora_r=tc.lora_r, lora_alpha=tc.lora_alpha, lora_dropout=tc.lora_dropout,
        temperature=tc.temperature, top_p=tc.top_p, max_prompt_tokens=tc.max_prompt_tokens,
    )
    if retriever is None:
        retriever, embedder = _build_retriever(cfg)
    judge = None
    if tc.reward == "judge":
        from vimrag.models.factory import make_llm

        judge = make_llm(tc.judge_model or cfg.models.llm, cfg.models)
    reward_fn = make_reward(tc.reward, tc.reward_threshold, judge=judge, timeout_s=tc.judge_timeout_s)
    agent_fn = make_agent_fn(policy, retriever, cfg, embedder=embedder)
    trainer = GGPOTrainer(policy, agent_fn, examples, tc, reward_fn=reward_fn, progress=progress)
    result = trainer.train()
    trainer.export()
    return result


def main(config_path: str, overrides: dict[str, Any] | None = None, *, as_json: bool = False) -> int:
    """CLI body for ``vimrag train --config FILE [--set train.key=value]``; returns the exit code."""
    result = train_from_config(config_path, overrides=overrides, progress=not as_json)
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        last = result.metrics[-1] if result.metrics else {}
        print(f"trained {result.steps} steps → {result.output_dir} "
              f"(last reward {last.get('reward', float('nan')):.3f}, {last.get('seconds', 0):.1f} s/step)")
    return 0
