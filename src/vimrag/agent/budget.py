"""Graph-modulated visual memory encoding (VimRAG §3.2).

Every kept item m of node v gets an intrinsic energy

    E_int(m) = p̂ · (1 + outdeg(v)) · exp(−λ (T − t_v))          (p̂ = p / 5, p the memorize score)

and a value that also credits what was built on top of it, computed bottom-up over the DAG:

    Ω(m) = E_int(m) + γ · Σ_{c ∈ children(v)} Ω̄(c)                (Ω̄(c) = mean Ω over c's kept items)

A global top-K of items by Ω then shares one budget S_total (pixels-equivalent, paper: 5 × 256 × 32 × 32)
in proportion to Ω. An item's tokens decide the resolution it is sent at to a VLM
(max_pixels = tokens · patch_px²); with a text-only policy they decide how many characters of its text
state are shown (tokens · text_chars_per_token). Items below ``min_tokens`` get nothing and reach the
model only through their node's summary / text state.

Deviations, with reasons:
- An item never perceived (memorize failed) counts as p = 3, the middle of the scale, rather than being
  dropped: losing evidence because a small model mis-formatted its JSON would be worse.
- A child with no kept items passes its own children's value through (Ω̄(c) = γ·Σ Ω̄(grandchildren)),
  so a dead-end-looking intermediate step does not cut the credit of the evidence found after it.
- Tokens freed by items that fall under ``min_tokens`` are re-shared once among the survivors (in
  proportion to Ω again), which keeps the allocation within budget and monotone in Ω.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vimrag.agent.graph import MemoryGraph
from vimrag.config import BudgetConfig

UNSCORED_P = 3


@dataclass(frozen=True)
class Allocation:
    item_id: str
    node: int
    index: int  # 1-based position in the node's bank
    omega: float
    tokens: int
    max_pixels: int

    def to_json(self) -> dict[str, object]:
        return {"item_id": self.item_id, "node": self.node, "omega": round(self.omega, 6),
                "tokens": self.tokens, "max_pixels": self.max_pixels}


def visual_energy(score: float | None, out_degree: int, step: int, now: int, decay: float) -> float:
    """E_int(m) = p̂·(1 + outdeg(v))·exp(−λ(T − t_v)), p̂ = p/5 (VimRAG Eq. for intrinsic energy)."""
    p = UNSCORED_P if score is None else float(score)
    p_hat = max(0.0, min(5.0, p)) / 5.0
    return p_hat * (1 + max(0, out_degree)) * math.exp(-decay * max(0, now - step))


def node_value(graph: MemoryGraph, now: int, cfg: BudgetConfig) -> dict[tuple[int, int], float]:
    """Ω(m) for every kept item, keyed by (node id, 1-based index); computed bottom-up (children first).

    Node ids grow with time and parents always precede children, so descending id order is a reverse
    topological order of the DAG.
    """
    omega: dict[tuple[int, int], float] = {}
    mean_value: dict[int, float] = {}
    for node in reversed(graph.nodes):
        child_sum = sum(mean_value[c] for c in graph.children(node.id))
        kept = node.salient() if node.id != 0 else []
        if not kept:
            mean_value[node.id] = cfg.gamma * child_sum
            continue
        deg = graph.out_degree(node.id)
        vals = []
        for idx, entry in kept:
            e = visual_energy(entry.score, deg, node.step, now, cfg.decay)
            w = e + cfg.gamma * child_sum
            omega[(node.id, idx)] = w
            vals.append(w)
        mean_value[node.id] = sum(vals) / len(vals)
    return omega


def total_tokens(cfg: BudgetConfig) -> int:
    """S_total expressed in visual tokens: pixels-equivalent / patch_px²."""
    return int(cfg.s_total // (cfg.patch_px * cfg.patch_px))


def _share(values: list[float], budget: int) -> list[int]:
    s = sum(values)
    if s <= 0 or budget <= 0:
        return [0] * len(values)
    return [int(math.floor(budget * v / s)) for v in values]


def allocate_tokens(
    graph: MemoryGraph, cfg: BudgetConfig, now: int | None = None, *, text_only: bool = False
) -> list[Allocation]:
    """Global top-K by Ω, tokens ∝ Ω under S_total; one :class:`Allocation` per kept item (0 if cut).

    ``text_only`` uses ``cfg.text_tokens`` as the budget when it is set (a text policy's tokens are
    characters of text state, which need not cost what an image does).

    Deterministic: ties in Ω are broken by (node id, index). Invariants (property-tested): Σ tokens ≤
    S_total / patch²; an item with larger Ω never gets fewer tokens; Ω = 0 gets 0.
    """
    t_now = max((n.step for n in graph.nodes), default=0) if now is None else now
    omega = node_value(graph, t_now, cfg)
    keys = sorted(omega, key=lambda k: (-omega[k], k))
    top = [k for k in keys[: max(0, cfg.top_k)] if omega[k] > 0]
    budget = cfg.text_tokens if (text_only and cfg.text_tokens > 0) else total_tokens(cfg)
    first = _share([omega[k] for k in top], budget)
    survivors = [k for k, t in zip(top, first, strict=True) if t >= cfg.min_tokens]
    second = dict(zip(survivors, _share([omega[k] for k in survivors], budget), strict=True))
    px = cfg.patch_px * cfg.patch_px
    out = []
    for key in keys:
        node_id, idx = key
        tok = second.get(key, 0)
        entry = graph.nodes[node_id].bank[idx - 1]
        out.append(Allocation(entry.item_id, node_id, idx, omega[key], tok, tok * px))
    return out
