"""GGPO vs GSPO-without-pruning: a short, honest CPU training run on a synthetic retrieval task.

Task: a corpus of facts "The code of the <colour> <object> is <NN>." and questions "What is the code of
the <colour> <object>?" (exact-match reward, verifiable). Rollouts go through the serving VimRAG agent
(``vimrag.agent.loop.AgentLoop``) over a keyword retriever that stands in for ``vimrag.Memory`` (ingest and
a store would add minutes and nothing to this comparison).

Policy (``--policy``): SmolLM2-135M-Instruct read from the packaged GGUF with LoRA adapters (default), or
the tiny randomly initialised Qwen2 (``tiny-qwen2``: 64-71 % of its outputs stayed unparseable after SFT,
so its reward never left 0). The policy is first warm-started by a short SFT on trajectories of a scripted
*oracle* that follows the agent's JSON protocol and, with probability ``--dead-end``, first retrieves an
unrelated fact (a dead end in the memory graph). Then the same SFT weights are trained with GGPO and with
GSPO (no pruning), same seed, same budget. This mirrors VRAG-RL's SFT→RL recipe at toy scale.

What it can show: the whole pipeline (agent → masks → loss → update) running end to end, the masked
fraction, time per step, and reward curves of both methods on the same footing. What it cannot show:
anything about the paper's scale (7B VLMs, thousands of questions); with a 135M model, a dozen
questions and tens of steps, differences between the curves are within seed noise unless they are large.

    python benchmarks/ggpo_run.py --steps 12 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from vimrag.config import Config  # noqa: E402
from vimrag.models.base import Completion, Message  # noqa: E402
from vimrag.types import Item, Locator, LogicState, Modality, SearchHit, SearchResult  # noqa: E402

COLOURS = ["red", "blue", "green", "black", "white", "pink"]
OBJECTS = ["door", "box", "car", "lamp"]
PEOPLE = ["Alice", "Bruno", "Chen", "Dana", "Emil", "Farah", "Goran", "Hana"]


def make_task(n_facts: int, seed: int) -> tuple[list[Item], list[dict]]:
    rng = random.Random(seed)
    pairs = [(c, o) for c in COLOURS for o in OBJECTS]
    rng.shuffle(pairs)
    items, qs = [], []
    for i, (c, o) in enumerate(pairs[:n_facts]):
        code = f"{rng.randint(10, 99)}"
        items.append(Item(f"f{i}", f"{c}_{o}.txt", f"h{i}", Modality.TEXT, Locator(chunk=0),
                          text=f"The code of the {c} {o} is {code}."))
        qs.append({"id": f"q{i}", "question": f"What is the code of the {c} {o}?", "answer": code,
                   "evidence": [f"{c}_{o}.txt"]})
    return items, qs


def make_twohop_task(n_questions: int, seed: int, n_colours: int = 3) -> tuple[list[Item], list[dict]]:
    """Two hops: "What is the code of the <object> in <person>'s favourite colour?" needs the person's
    colour first, then that colour's code fact (every object has a code in every colour: distractors).
    With few colours a policy that guesses the colour is sometimes right, so rewards vary within a group
    (a group of all-0 rewards has zero advantage and teaches nothing)."""
    rng = random.Random(seed)
    colours = COLOURS[:n_colours]
    codes = {(c, o): f"{rng.randint(10, 99)}" for c in colours for o in OBJECTS}
    items = [Item(f"c{i}", f"{c}_{o}.txt", f"hc{i}", Modality.TEXT, Locator(chunk=0),
                  text=f"The code of the {c} {o} is {code}.") for i, ((c, o), code) in enumerate(codes.items())]
    qs = []
    for i, person in enumerate(PEOPLE[:n_questions]):
        c, o = rng.choice(colours), rng.choice(OBJECTS)
        items.append(Item(f"p{i}", f"{person.lower()}.txt", f"hp{i}", Modality.TEXT, Locator(chunk=0),
                          text=f"{person}'s favourite colour is {c}."))
        qs.append({"id": f"q{i}", "question": f"What is the code of the {o} in {person}'s favourite colour?",
                   "answer": codes[(c, o)], "evidence": [f"{person.lower()}.txt", f"{c}_{o}.txt"]})
    return items, qs


class KeywordRetriever:
    """Ranks facts by shared words with the query; VERIFIED when colour and object both match."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items

    def search(self, query: str, k: int) -> SearchResult:
        words = set(re.findall(r"[a-z]+", query.lower()))
        def score(it: Item) -> int:
            return len(words & set(re.findall(r"[a-z]+", it.text.lower())))
        ranked = sorted(self.items, key=lambda it: (-score(it), it.id))[:k]
        hits = [SearchHit(it, LogicState.VERIFIED if score(it) >= 6 else LogicState.UNCERTAIN, score(it) / 8)
                for it in ranked]
        return SearchResult(query, [], [], hits)

    def load_image(self, item: Item) -> None:
        return None


class Oracle:
    """A scripted policy speaking the agent's JSON protocol; sometimes takes a dead-end retrieval first."""

    name = "oracle"
    supports_images = False

    def __init__(self, dead_end: float, seed: int) -> None:
        self.dead_end = dead_end
        self.rng = random.Random(seed)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0, stop=None):
        user = messages[-1].content
        m = re.search(r"code of the (\w+) (\w+)\?", user)
        c, o = (m.group(1), m.group(2)) if m else ("red", "door")
        if "Search:" in user:  # memorize prompt
            lines = re.findall(r"\[(\d+)\][^\n]*", user)
            keep = [int(n) for n in lines if re.search(rf"\[{n}\][^\n]*{c} {o} is", user)]
            scores = {str(n): (5 if int(n) in keep else 1) for n in lines}
            summ = f"The {c} {o} code is found." if keep else "Not relevant."
            text = json.dumps({"action": "memorize", "summary": summ, "keep": keep, "scores": scores})
        else:
            found = re.search(rf"{c} {o} is (\d+)", user)
            if found:
                text = json.dumps({"action": "answer", "answer": found.group(1), "cite": []})
            elif "Graph:" in user and "search" not in user.split("Graph:", 1)[1] and self.rng.random() < self.dead_end:
                oc = self.rng.choice([x for x in COLOURS if x != c])
                text = json.dumps({"action": "retrieve", "query": f"{oc} {o} code", "parents": [0]})
            else:
                text = json.dumps({"action": "retrieve", "query": f"{c} {o} code", "parents": [0]})
        return self._reply(messages, text)

    def _reply(self, messages: list[Message], text: str) -> Completion:
        return Completion(text, prompt_tokens=sum(self.count_tokens(x.content) for x in messages),
                          completion_tokens=self.count_tokens(text))

    def generate_json(self, messages, schema=None, *, max_tokens=256):
        c = self.generate(messages)
        return json.loads(c.text), c

    def yes_probability(self, prompt, images=None) -> float:
        return 0.5


class TwoHopOracle(Oracle):
    """The scripted policy for the two-hop task: person's colour first, then the code; with probability
    ``dead_end`` its first search is for another person's colour (a dead end the answer never uses)."""

    def generate(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0, stop=None):
        user = messages[-1].content
        m = re.search(r"code of the (\w+) in (\w+)'s favourite colour\?", user)
        o, person = (m.group(1), m.group(2)) if m else ("door", "Alice")
        colour = re.search(rf"{person}'s favourite colour is (\w+)", user)
        if "Search:" in user:  # memorize prompt: keep the line that carries the needed fact
            lines = re.findall(r"\[(\d+)\]([^\n]*)", user)
            searched = re.search(r"Search: code of the (\w+) (\w+)", user)
            want = [rf"{person}'s favourite colour is"] + ([rf"{searched.group(1)} {o} is"] if searched else [])
            keep = [int(n) for n, line in lines if any(re.search(w, line) for w in want)]
            facts = [line.rsplit("): ", 1)[-1].strip() for n, line in lines if int(n) in keep]
            summ = " ".join(facts)[:120] if facts else "Not relevant."
            scores = {n: (5 if int(n) in keep else 1) for n, _ in lines}
            text = json.dumps({"action": "memorize", "summary": summ, "keep": keep, "scores": scores})
        else:
            code = re.search(rf"{colour.group(1)} {o} is (\d+)", user) if colour else None
            graph = user.split("Graph:", 1)[1] if "Graph:" in user else ""
            if code:
                text = json.dumps({"action": "answer", "answer": code.group(1), "cite": []})
            elif colour:
                text = json.dumps({"action": "retrieve", "query": f"code of the {colour.group(1)} {o}",
                                   "parents": [len(re.findall(r"\nn\d+ <-", graph))]})
            elif "search" not in graph and self.rng.random() < self.dead_end:
                other = self.rng.choice([p for p in PEOPLE if p != person])
                text = json.dumps({"action": "retrieve", "query": f"{other}'s favourite colour", "parents": [0]})
            else:
                text = json.dumps({"action": "retrieve", "query": f"{person}'s favourite colour", "parents": [0]})
        return self._reply(messages, text)


def sft_warm_start(policy, trajectories: list[dict], epochs: int, lr: float, max_prompt: int) -> list[float]:
    """Behaviour cloning on the oracle's (prompt, completion) steps: completion tokens only."""
    import torch

    from vimrag.train.loss import token_logprobs
    from vimrag.train.segment import segment_trajectory, tokenize_step

    toks = [tokenize_step(policy.tokenizer, s.messages, s.completion, max_prompt_tokens=max_prompt)
            for t in trajectories for s in segment_trajectory(t)]
    params = [p for p in policy.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    losses = []
    policy.model.train()
    for _ in range(epochs):
        random.shuffle(toks)
        tot = 0.0
        for tk in toks:
            ids = torch.tensor([tk.input_ids])
            m = torch.tensor([tk.loss_mask], dtype=torch.float32)
            nll = -(token_logprobs(policy.model(input_ids=ids).logits, ids) * m).sum() / m.sum()
            opt.zero_grad()
            nll.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            tot += float(nll.detach())
        losses.append(tot / len(toks))
    return losses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--questions-per-step", type=int, default=2)
    ap.add_argument("--facts", type=int, default=8, help="questions (one fact or one person each)")
    ap.add_argument("--colours", type=int, default=3, help="twohop: colours in the corpus (guessing succeeds 1/n)")
    ap.add_argument("--task", choices=("twohop", "code"), default="twohop",
                    help="twohop: person's colour, then the code (default); code: one hop, saturates at reward 1")
    ap.add_argument("--dead-end", type=float, default=0.5)
    ap.add_argument("--sft-epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=None, help="default: 2e-3 for tiny-qwen2, 3e-4 with LoRA")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--policy", default="smollm2-135m", help="registry name, .gguf file, HF folder or tiny-qwen2")
    ap.add_argument("--sft-lr", type=float, default=None, help="default: 3e-3 for tiny-qwen2, 2e-4 with LoRA")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--plot-only", action="store_true", help="re-plot an existing (possibly partial) JSON")
    args = ap.parse_args()
    if args.plot_only:
        res = json.loads((Path(args.out) / "ggpo_curves.json").read_text())
        plot(res, Path(args.out) / "ggpo_curves.png")
        return

    import torch

    from vimrag.agent.loop import AgentLoop
    from vimrag.train.policy import TransformersPolicy, build_tiny_qwen2
    from vimrag.train.rewards import make_reward
    from vimrag.train.rollout import Example, make_agent_fn
    from vimrag.train.trainer import GGPOTrainer

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items, qs = (make_twohop_task(args.facts, args.seed, args.colours) if args.task == "twohop"
                 else make_task(args.facts, args.seed))
    retriever = KeywordRetriever(items)
    cfg = Config().with_overrides({"agent.max_steps": 4 if args.task == "twohop" else 3,
                                   "agent.max_completion_tokens": 48, "agent.top_k": 2,
                                   "agent.evidence_chars": 80})
    # 1. oracle trajectories through the real agent, 2. SFT warm start of the tiny policy
    oracle_cls = TwoHopOracle if args.task == "twohop" else Oracle
    oracle_agent = AgentLoop(oracle_cls(args.dead_end, args.seed), retriever, cfg)
    demos = [oracle_agent.ask(q["question"], save=False).record.to_json() for q in qs for _ in range(2)]
    torch.manual_seed(args.seed)
    tiny = args.policy.startswith("tiny-qwen2")
    if tiny:
        model, tok = build_tiny_qwen2(args.seed, hidden=128, layers=2)
        base = TransformersPolicy(model, tok, name="tiny-qwen2-sft", temperature=1.0, max_prompt_tokens=1024)
    else:
        base = TransformersPolicy.from_spec(args.policy, lora=True, lora_r=16, lora_alpha=32, temperature=1.0,
                                            max_prompt_tokens=1024)
        tok = base.tokenizer
    sft_lr = args.sft_lr if args.sft_lr is not None else (3e-3 if tiny else 2e-4)
    args.lr = args.lr if args.lr is not None else (2e-3 if tiny else 3e-4)
    t0 = time.perf_counter()
    sft_losses = sft_warm_start(base, demos, args.sft_epochs, sft_lr, 1024)
    sft_s = time.perf_counter() - t0
    sft_state = {k: v.clone() for k, v in base.model.state_dict().items() if tiny or "lora" in k}
    print(f"SFT: {len(demos)} demos, losses {[round(x, 3) for x in sft_losses]}, {sft_s:.0f}s", flush=True)

    examples = [Example(q["id"], q["question"], [q["answer"]], q["evidence"]) for q in qs]
    results: dict = {"policy": args.policy, "task": {"kind": args.task, "colours": args.colours, "facts": args.facts, "dead_end": args.dead_end, "group": args.group,
                              "questions_per_step": args.questions_per_step, "steps": args.steps,
                              "seed": args.seed, "lr": args.lr},
                     "sft": {"losses": sft_losses, "seconds": sft_s}, "runs": {}}
    for algo in ("ggpo", "gspo"):
        base.model.load_state_dict(sft_state, strict=tiny)
        policy = TransformersPolicy(base.model, tok, name=f"{args.policy}-{algo}", temperature=1.0,
                                    max_prompt_tokens=1024)
        tc = replace(cfg.train, algorithm=algo, group_size=args.group, questions_per_step=args.questions_per_step,
                     lr=args.lr, seed=args.seed, steps=args.steps, save_every=10**6, resume=False,
                     max_prompt_tokens=1024, gspo_clip_low=0.2, gspo_clip_high=0.2)
        trainer = GGPOTrainer(policy, make_agent_fn(policy, retriever, cfg), examples, tc,
                              reward_fn=make_reward("em"), output_dir=out / f"ggpo_run_{algo}", progress=False)
        rows = []
        for s in range(args.steps):
            row = trainer.step(s)
            rows.append(row)
            print(f"{algo} step {s + 1}: reward {row['reward']:.3f} masked {row['masked_frac']:.2f} "
                  f"loss {row['loss']:+.4f} {row['seconds']:.1f}s", flush=True)
            results["runs"][algo] = rows
            (out / "ggpo_curves.json").write_text(json.dumps(results, indent=1))
    plot(results, out / "ggpo_curves.png")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for algo, rows in results["runs"].items():
        xs = [r["step"] for r in rows]
        axes[0].plot(xs, [r["reward"] for r in rows], marker="o", label=algo.upper())
        axes[1].plot(xs, [r["masked_frac"] for r in rows], marker=".", label=algo.upper())
    axes[0].set(xlabel="optimiser step", ylabel="mean outcome reward (EM)", title="reward")
    axes[1].set(xlabel="optimiser step", ylabel="fraction of steps with μ_t = 1",
                title="steps μ_t marks (pruned by GGPO only)")
    for a in axes:
        a.legend()
        a.grid(alpha=0.3)
    t = results["task"]
    kind = "two-hop retrieval" if t.get("kind") == "twohop" else "retrieval"
    fig.suptitle(f"{results.get('policy', 'tiny-qwen2')} (SFT warm start), synthetic {kind}, G={t['group']}, "
                 f"{t['questions_per_step']} q/step, seed {t['seed']} — toy scale", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
