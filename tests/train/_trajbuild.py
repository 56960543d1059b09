"""Builders of hand-made trajectories in the JSON contract (imported by the train tests)."""

from __future__ import annotations

from typing import Any


def node(i: int, parents: list[int], *, scores: list[int | None] | None = None, sources: list[str] | None = None) -> dict:
    bank = []
    for k, s in enumerate(scores or []):
        src = (sources or [f"doc{i}_{k}.txt"] * len(scores or []))[k]
        bank.append({"item_id": f"it{i}_{k}", "source": src, "locator": {}, "modality": "text",
                     "state": "verified", "similarity": 0.5, "saliency": True, "score": s, "keyframes": [],
                     "text": "t"})
    return {"id": i, "parents": parents, "query": f"q{i}", "summary": "", "step": i, "bank": bank}


def step(i: int, action: str, node_id: int | None, *, completion: str = "{}", repeat: bool = False,
         retrieved: list[dict] | None = None, messages: list[dict] | None = None) -> dict:
    return {"index": i, "action": action, "node": node_id, "parents": [],
            "messages": messages if messages is not None else [{"role": "user", "content": f"prompt {i}"}],
            "completion": completion, "prompt_tokens": 5, "completion_tokens": 2, "seconds": 0.0,
            "retrieved": retrieved or [], "repeat": repeat, "error": None}


def traj(nodes: list[dict], steps: list[dict], answer_node: int | None, answer: str = "x") -> dict[str, Any]:
    return {"version": 1, "question": "Q?", "method": "vimrag", "nodes": nodes, "steps": steps,
            "answer": answer, "answer_node": answer_node, "citations": [], "allocation": [],
            "tokens": {"prompt": 0, "completion": 0}, "steps_taken": len(steps), "invalid_retrievals": 0,
            "wall_s": 0.0, "meta": {}}


