"""The trainable policy behind the LanguageModel protocol, offline loading, and the verl converter."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from vimrag.errors import ModelUnavailableError  # noqa: E402
from vimrag.models.base import LanguageModel, Message  # noqa: E402
from vimrag.train.masks import ggpo_mask  # noqa: E402
from vimrag.train.policy import TransformersPolicy, build_tiny_tokenizer  # noqa: E402
from vimrag.train.segment import generation_key, render_prompt, tokenize_step  # noqa: E402
from vimrag.train.verl import compute_ggpo_outcome_advantage, to_verl_batch, trajectory_to_samples  # noqa: E402

from ._trajbuild import node, step, traj  # noqa: E402


@pytest.fixture(scope="module")
def policy():
    return TransformersPolicy.from_spec("tiny-qwen2:7", temperature=1.0)


def test_policy_is_a_language_model_and_records_sampled_ids(policy):
    assert isinstance(policy, LanguageModel)
    msgs = [Message("user", "What is the code of the blue door?")]
    c = policy.generate(msgs, max_tokens=8)
    assert 1 <= c.completion_tokens <= 8 and c.prompt_tokens > 0
    if c.text:
        prompt = render_prompt(policy.tokenizer, [{"role": "user", "content": msgs[0].content}])
        key = generation_key(prompt, c.text)
        assert policy.recorded[key][1] == c.raw["completion_ids"]
        tok = tokenize_step(policy.tokenizer, [{"role": "user", "content": msgs[0].content}], c.text,
                            recorded=policy.recorded)
        assert tok.meta["exact_ids"] and sum(tok.loss_mask) == c.completion_tokens
    assert 0.0 <= policy.yes_probability("Is the door blue?") <= 1.0
    assert policy.count_tokens("blue door") > 0


def test_temperature_override_gives_different_samples(policy):
    msgs = [Message("user", "Question: what?")]
    outs = {policy.generate(msgs, max_tokens=6, temperature=0.0).text for _ in range(4)}
    assert len(outs) > 1  # the agent asks for greedy; training samples anyway


def test_unknown_policy_spec_fails_fast_without_a_hub():
    with pytest.raises(ModelUnavailableError, match="never downloaded"):
        TransformersPolicy.from_spec("Qwen/Qwen2.5-0.5B-Instruct")


def test_verl_samples_batch_and_advantages():
    tok = build_tiny_tokenizer()
    pos = traj([node(0, []), node(1, [0]), node(2, [0])],
               [step(0, "retrieve", 1, completion="a"), step(1, "retrieve", 2, completion="b"),
                step(2, "answer", 2, completion="c")], 2)
    neg = traj([node(0, []), node(1, [0])], [step(0, "retrieve", 1, completion="d"), step(1, "answer", 1, completion="e")], 1)
    samples = []
    for tid, (t, r) in enumerate([(pos, 1.0), (neg, 0.0)]):
        samples += trajectory_to_samples(t, r, ggpo_mask(t, r), tok, question_id="q", trajectory_id=str(tid))
    assert [s["masked"] for s in samples] == [True, False, False, False, False]
    assert samples[0]["response_mask"] == [0] * len(samples[0]["response_ids"])  # pruned: no loss tokens
    batch = to_verl_batch(samples, pad_id=tok.pad_token_id)
    B, R = batch["responses"].shape
    assert B == 5 and batch["input_ids"].shape[1] == batch["prompts"].shape[1] + R
    assert (batch["attention_mask"][:, : batch["prompts"].shape[1]].sum(1) == [len(s["prompt_ids"]) for s in samples]).all()
    scores = torch.as_tensor(batch["token_level_scores"])
    adv, ret = compute_ggpo_outcome_advantage(scores, torch.as_tensor(batch["response_mask"]), batch["non_tensor"]["uid"])
    # one positive and one negative trajectory: Â = ±(0.5 / std([1, 0])) = ±0.7071, counted once per trajectory
    a = 0.5 / torch.tensor([1.0, 0.0]).std()
    assert torch.allclose(adv[1][adv[1] != 0], a.expand(int((adv[1] != 0).sum())), atol=1e-4)
    assert torch.count_nonzero(adv[0]) == 0  # the pruned dead end
    assert torch.allclose(adv[3][adv[3] != 0], -a.expand(int((adv[3] != 0).sum())), atol=1e-4)
    assert torch.equal(adv, ret)
