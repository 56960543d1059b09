"""Rollouts: G trajectories per training question through the serving agent, scored and masked.

The agent is :class:`vimrag.agent.loop.AgentLoop` — the same loop, prompts, parser and memory graph that
``vimrag ask`` uses — with the trainable policy as its ``LanguageModel``. The policy samples at
``train.temperature`` whatever the agent asks for, so the G runs of one question differ (GRPO/GSPO need
a group of distinct samples for the group-normalized advantage).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vimrag.config import Config
from vimrag.errors import ConfigError
from vimrag.train.masks import as_trajectory_dict, ggpo_mask


@dataclass
class TrainExample:
    """One training question: gold answer aliases and, optionally, gold evidence (for R_val)."""

    id: str
    question: str
    answers: list[str]
    evidence: list[Any] = field(default_factory=list)


@dataclass
class Rollout:
    example: TrainExample
    trajectory: dict[str, Any]
    reward: float
    mask: list[bool]
    seconds: float = 0.0


def load_examples(path: str | Path) -> list[TrainExample]:
    """JSONL of ``{"question", "answer" | "answers", "evidence"?, "id"?}``, or a HotpotQA JSON list.

    HotpotQA's ``supporting_facts`` titles become the gold evidence (matched against item sources).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"train.questions: file not found: {p}")
    text = p.read_text()
    rows: list[dict[str, Any]]
    if text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    out = []
    for i, r in enumerate(rows):
        if "question" not in r or not ("answer" in r or "answers" in r):
            raise ConfigError(f"{p}: row {i} needs 'question' and 'answer' (or 'answers')")
        ans = r.get("answers", r.get("answer"))
        answers = [str(a) for a in ans] if isinstance(ans, list) else [str(ans)]
        evidence = list(r.get("evidence", []))
        if not evidence and r.get("supporting_facts"):
            evidence = sorted({str(f[0]) for f in r["supporting_facts"]})
        out.append(TrainExample(str(r.get("id", r.get("_id", i))), str(r["question"]), answers, evidence))
    if not out:
        raise ConfigError(f"{p}: no training questions")
    return out


AgentFn = Callable[[str], Any]


def make_agent_fn(policy: Any, retriever: Any, config: Config, *, embedder: Any = None) -> AgentFn:
    """question → trajectory dict, through the serving agent (no trajectory file is written)."""
    from vimrag.agent.loop import AgentLoop

    agent = AgentLoop(policy, retriever, config, embedder=embedder)

    def run(question: str) -> dict[str, Any]:
        result = agent.ask(question, save=False)
        record = getattr(result, "record", None)  # AgentResult.record: the Trajectory itself
        if record is None:
            record = result.trajectory
        return as_trajectory_dict(record)

    return run


def collect_group(
    agent_fn: AgentFn,
    example: TrainExample,
    group_size: int,
    reward_fn: Callable[[str, str, Sequence[str]], float],
    *,
    score_threshold: float = 3,
) -> list[Rollout]:
    """G rollouts of one question with their outcome rewards and GGPO masks."""
    import time

    out = []
    for _ in range(group_size):
        t0 = time.perf_counter()
        traj = as_trajectory_dict(agent_fn(example.question))
        reward = float(reward_fn(example.question, str(traj.get("answer", "")), example.answers))
        mask = ggpo_mask(traj, reward, score_threshold=score_threshold, gold_evidence=example.evidence or None)
        out.append(Rollout(example, traj, reward, mask, time.perf_counter() - t0))
    return out
