"""Trainer: exact-zero gradients for pruned steps, reference gradients for the others, checkpoints, resume,
and a real run through the serving agent with a tiny randomly initialised policy."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from vimrag.config import Config, TrainConfig  # noqa: E402
from vimrag.train.loss import token_logprobs  # noqa: E402
from vimrag.train.policy import TransformersPolicy, build_tiny_qwen2  # noqa: E402
from vimrag.train.rollout import TrainExample  # noqa: E402
from vimrag.train.segment import tokenize_step  # noqa: E402
from vimrag.train.trainer import GGPOTrainer, step_loss  # noqa: E402

from ._trajbuild import node, step, traj  # noqa: E402

DEAD = "^^^^ ```` ~~~~"  # characters used only by the dead-end step of the positive trajectory


def _scripted_group():
    """G=2 for one question: a positive with a dead end (n2) and a negative with nothing valuable."""
    def msgs(text):
        return [{"role": "user", "content": text}]

    pos = traj(
        [node(0, []), node(1, [0], scores=[5]), node(2, [0], scores=[1])],
        [step(0, "retrieve", 1, completion='{"action": "retrieve", "query": "door"}', messages=msgs("find the door")),
         step(1, "retrieve", 2, completion=DEAD, messages=msgs(DEAD)),
         step(2, "answer", 1, completion='{"action": "answer", "answer": "4821"}', messages=msgs("answer now"))],
        1, answer="4821")
    neg = traj(
        [node(0, []), node(1, [0], scores=[2])],
        [step(0, "retrieve", 1, completion='{"action": "retrieve", "query": "window"}', messages=msgs("find it")),
         step(1, "answer", 1, completion='{"action": "answer", "answer": "17"}', messages=msgs("answer now"))],
        1, answer="17")
    queue = []

    def agent_fn(question):
        if not queue:
            queue.extend([pos, neg])
        return queue.pop(0)

    return agent_fn


def _full_ft_policy(seed=0):
    model, tok = build_tiny_qwen2(seed, tie_embeddings=False)
    return TransformersPolicy(model, tok, temperature=1.0)


def _cfg(**kw):
    base = TrainConfig(group_size=2, questions_per_step=1, lr=1e-2, steps=1, save_every=1, resume=False)
    return replace(base, **kw)


def _dead_only_ids(policy):
    ids = lambda text, comp: set(tokenize_step(policy.tokenizer, [{"role": "user", "content": text}], comp).input_ids)  # noqa: E731
    dead = ids(DEAD, DEAD)
    others = ids("find the door", '{"action": "retrieve", "query": "door"}') | ids(
        "answer now", '{"action": "answer", "answer": "4821"}') | ids("find it", '{"action": "retrieve", "query": "window"}') | ids(
        "answer now", '{"action": "answer", "answer": "17"}')
    only = sorted(dead - others)
    assert only, "the dead-end step must use embedding rows of its own"
    return only


@pytest.mark.parametrize("algorithm,pruned_rows_move", [("ggpo", False), ("gspo", True)])
def test_pruned_step_rows_get_exactly_zero_update(tmp_path, algorithm, pruned_rows_move):
    policy = _full_ft_policy()
    rows = _dead_only_ids(policy)
    emb = policy.model.get_input_embeddings().weight
    before = emb.detach().clone()
    ex = [TrainExample("q1", "What is the code?", ["4821"])]
    trainer = GGPOTrainer(policy, _scripted_group(), ex, _cfg(algorithm=algorithm), output_dir=tmp_path, progress=False)
    row = trainer.step(0)
    after = emb.detach()
    assert row["reward"] == 0.5 and row["trainable_steps"] == 5
    if algorithm == "ggpo":
        assert row["masked_frac"] == pytest.approx(1 / 5) and row["forwarded_steps"] == 4
    assert bool(torch.equal(after[rows], before[rows])) is (not pruned_rows_move)
    assert not torch.equal(after, before)  # the unpruned steps did train


def test_unmasked_step_gradient_matches_reference():
    """On-policy GSPO with s = 1: ∇L_t = −(Â/N) ∇ mean_k log π(y_k) — computed independently here."""
    policy = _full_ft_policy(1)
    cfg = _cfg(algorithm="ggpo")
    tok = tokenize_step(policy.tokenizer, [{"role": "user", "content": "find the door"}], '{"action": "x"}')
    adv, n = 0.7071, 5
    out, _ = step_loss(policy.model, tok, adv, False, cfg, normalizer=n)
    out.loss.backward()
    got = [p.grad.clone() for p in policy.model.parameters()]
    policy.model.zero_grad()
    ids = torch.tensor([tok.input_ids])
    lp = token_logprobs(policy.model(input_ids=ids).logits, ids)[0]
    m = torch.tensor(tok.loss_mask, dtype=torch.float32)
    ref = -(adv / n) * (lp * m).sum() / m.sum()
    ref.backward()
    for g, p in zip(got, policy.model.parameters(), strict=True):
        assert torch.allclose(g, p.grad, atol=1e-7, rtol=1e-5)
    # and a masked step: no gradient at all
    policy.model.zero_grad()
    out, _ = step_loss(policy.model, tok, adv, True, cfg, normalizer=n)
    out.loss.backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in policy.model.parameters())


def test_checkpoint_and_resume(tmp_path):
    ex = [TrainExample("q1", "What is the code?", ["4821"]), TrainExample("q2", "Which door?", ["blue"])]
    cfg = _cfg(steps=2, lr=1e-3)

    def lora_policy():
        return TransformersPolicy.from_spec("tiny-qwen2:3", lora=True, temperature=1.0)

    t1 = GGPOTrainer(lora_policy(), _scripted_group(), ex, cfg, output_dir=tmp_path, progress=False)
    r1 = t1.train()
    assert r1.steps == 2 and (tmp_path / "checkpoints" / "latest").read_text() == "step-2"
    saved = {n: p.detach().clone() for n, p in t1.policy.model.named_parameters() if p.requires_grad}

    t2 = GGPOTrainer(lora_policy(), _scripted_group(), ex, replace(cfg, steps=3), output_dir=tmp_path, progress=False)
    assert t2.load_checkpoint() and t2.step_done == 2
    for n, p in t2.policy.model.named_parameters():
        if p.requires_grad:
            assert torch.equal(p.detach(), saved[n])
    r2 = t2.train(resume=False)  # already loaded; continues at step 3
    assert r2.steps == 3 and [row["step"] for row in r2.metrics] == [3]
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3]
    assert {"reward", "loss", "masked_frac", "tokens_trained", "seconds"} <= set(lines[0])
    assert t1.batch_examples(2) == t2.batch_examples(2)  # data order is a function of (seed, step)


class _DoorRetriever:
    """A two-item in-memory retriever (stands in for vimrag.Memory, which needs ingest + a store)."""

    def __init__(self):
        from vimrag.types import Item, Locator, Modality

        self.items = [
            Item("door", "door.txt", "h1", Modality.TEXT, Locator(chunk=0), text="The code of the blue door is 4821."),
            Item("cat", "cat.txt", "h2", Modality.TEXT, Locator(chunk=0), text="The cat sleeps on the red mat."),
        ]

    def search(self, query, k):
        from vimrag.types import LogicState, SearchHit, SearchResult

        words = set(query.lower().split())
        scored = sorted(self.items, key=lambda it: -len(words & set(it.text.lower().split())))
        return SearchResult(query, [], [], [SearchHit(it, LogicState.UNCERTAIN, 0.5) for it in scored[:k]])

    def load_image(self, item):
        return None


def test_train_from_config_through_the_serving_agent(tmp_path):
    from vimrag.train.trainer import train_from_config

    qs = tmp_path / "q.jsonl"
    qs.write_text(json.dumps({"question": "What is the code of the blue door?", "answer": "4821"}) + "\n")
    cfg = Config().with_overrides({
        "agent.max_steps": 2, "agent.max_completion_tokens": 12, "agent.top_k": 2,
        "train.questions": str(qs), "train.policy": "tiny-qwen2:5", "train.group_size": 2,
        "train.questions_per_step": 1, "train.steps": 1, "train.output_dir": str(tmp_path / "run"),
        "train.lr": 1e-3,
    })
    res = train_from_config(cfg, retriever=_DoorRetriever(), progress=False)
    row = res.metrics[0]
    assert res.steps == 1 and row["trainable_steps"] >= 2 and row["tokens_generated"] > 0
    assert (tmp_path / "run" / "export" / "adapter_config.json").is_file()
    assert (tmp_path / "run" / "checkpoints" / "step-1" / "trainable.pt").is_file()
