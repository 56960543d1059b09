"""Trajectories: every run as JSON, the input of ``vimrag show``, GGPO training and evaluation.

The schema is a contract shared with the training and evaluation code (version 1); keep its keys. Only
steps with a policy completion are trainable. Extra information (e.g. item thumbnails for the HTML view)
goes under ``meta``.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vimrag.agent.graph import MemoryGraph
from vimrag.errors import TrajectoryError

VERSION = 1
STEP_ACTIONS = ("retrieve", "memorize", "answer", "invalid")
PHASES = ("prefill_tokens", "prefill_s", "decode_tokens", "decode_s")
TOKEN_KEYS = ("prompt", "completion", "cached")  # a result's "tokens"


@dataclass
class StepRecord:
    index: int
    action: str
    node: int | None = None
    parents: list[int] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    completion: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    repeat: bool = False
    error: str | None = None
    # prompt tokens the model re-used from its KV cache (counted in prompt_tokens too), and what the
    # model reports of the call's phases: prefill_tokens / prefill_s (evaluated), decode_tokens / decode_s
    cached_tokens: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    # candidate answer selection (agent.answer_candidates > 1): the distinct candidates and the chosen one
    candidates: list[str] = field(default_factory=list)
    selected: int | None = None
    grounded: list[str] = field(default_factory=list)  # evidence images shown as views (agent.grounding)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "action": self.action, "node": self.node, "parents": list(self.parents),
            "messages": [dict(m) for m in self.messages], "completion": self.completion,
            "prompt_tokens": int(self.prompt_tokens), "completion_tokens": int(self.completion_tokens),
            "cached_tokens": int(self.cached_tokens), **self.phases,
            "seconds": round(float(self.seconds), 4), "retrieved": [dict(r) for r in self.retrieved],
            "repeat": bool(self.repeat), "error": self.error,
            **({"candidates": list(self.candidates), "selected": self.selected} if self.candidates else {}),
            **({"grounded": list(self.grounded)} if self.grounded else {}),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> StepRecord:
        if d.get("action") not in STEP_ACTIONS:
            raise TrajectoryError(f"step {d.get('index')}: unknown action {d.get('action')!r}")
        return cls(
            int(d["index"]), d["action"], d.get("node"), [int(p) for p in d.get("parents", [])],
            [dict(m) for m in d.get("messages", [])], d.get("completion", ""), int(d.get("prompt_tokens", 0)),
            int(d.get("completion_tokens", 0)), float(d.get("seconds", 0.0)), list(d.get("retrieved", [])),
            bool(d.get("repeat", False)), d.get("error"), int(d.get("cached_tokens", 0)),
            {k: d[k] for k in PHASES if k in d}, [str(c) for c in d.get("candidates", [])], d.get("selected"),
            [str(g) for g in d.get("grounded", [])],
        )


def nodes_to_json(graph: MemoryGraph) -> list[dict[str, Any]]:
    return [
        {
            "id": n.id, "parents": list(n.parents), "query": n.query, "summary": n.summary, "step": n.step,
            "bank": [
                {
                    "item_id": e.item_id, "source": e.item.source, "locator": e.item.locator.to_dict(),
                    "modality": str(e.item.modality), "state": e.state.label,
                    "similarity": round(float(e.similarity), 6), "saliency": bool(e.saliency),
                    "score": e.score, "keyframes": [float(t) for t in e.keyframes], "text": e.text,
                }
                for e in n.bank
            ],
        }
        for n in graph.nodes
    ]


@dataclass
class Trajectory:
    question: str
    method: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    answer: str = ""
    answer_node: int | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    allocation: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_KEYS, 0))
    steps_taken: int = 0
    invalid_retrievals: int = 0
    wall_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    version: int = VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version, "question": self.question, "method": self.method,
            "nodes": self.nodes, "steps": [s.to_json() for s in self.steps], "answer": self.answer,
            "answer_node": self.answer_node, "citations": self.citations, "allocation": self.allocation,
            "tokens": {k: int(self.tokens.get(k, 0)) for k in TOKEN_KEYS},
            "steps_taken": self.steps_taken, "invalid_retrievals": self.invalid_retrievals,
            "wall_s": round(float(self.wall_s), 4), "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> Trajectory:
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise TrajectoryError(f"trajectory is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise TrajectoryError("a trajectory must be a JSON object")
        if data.get("version") != VERSION:
            raise TrajectoryError(f"unsupported trajectory version {data.get('version')!r} (expected {VERSION})")
        missing = [k for k in ("question", "method", "nodes", "steps") if k not in data]
        if missing:
            raise TrajectoryError(f"trajectory lacks {', '.join(missing)}")
        return cls(
            question=data["question"], method=data["method"], nodes=list(data["nodes"]),
            steps=[StepRecord.from_json(s) for s in data["steps"]], answer=data.get("answer", ""),
            answer_node=data.get("answer_node"), citations=list(data.get("citations", [])),
            allocation=list(data.get("allocation", [])),
            tokens={k: int(data.get("tokens", {}).get(k, 0)) for k in TOKEN_KEYS},
            steps_taken=int(data.get("steps_taken", len(data["steps"]))),
            invalid_retrievals=int(data.get("invalid_retrievals", 0)), wall_s=float(data.get("wall_s", 0.0)),
            meta=dict(data.get("meta", {})),
        )

    def save(self, directory: str | Path, name: str | None = None) -> Path:
        """Write atomically under ``directory`` with a unique name; returns the path."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        if name is None:
            slug = re.sub(r"[^a-z0-9]+", "-", self.question.lower())[:40].strip("-") or "q"
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{self.method}-{slug}-{uuid.uuid4().hex[:8]}.json"
        path = d / name
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trajectory:
        p = Path(path)
        if not p.is_file():
            raise TrajectoryError(f"trajectory file not found: {p}")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise TrajectoryError(f"{p} is not a trajectory (not UTF-8 text)") from exc
        return cls.from_json(text)
