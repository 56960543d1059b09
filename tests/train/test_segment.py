from __future__ import annotations

import pytest

from vimrag.errors import TrajectoryError
from vimrag.train.masks import ggpo_mask
from vimrag.train.segment import generation_key, render_prompt, segment_trajectory, tokenize_step

from ._trajbuild import node, step, traj

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tokenizer():
    from vimrag.train.policy import build_tiny_tokenizer

    return build_tiny_tokenizer()


def _obs_traj():
    evidence = "[Fact Check: VERIFIED] text door.txt: The code of the blue door is 4821."
    steps = [
        step(0, "retrieve", 1, completion='{"action": "retrieve", "query": "blue door code"}'),
        step(1, "memorize", 1, completion='{"action": "memorize", "summary": "code 4821", "scores": {"1": 5}}',
             messages=[{"role": "system", "content": "memorize"}, {"role": "user", "content": evidence}]),
        step(2, "answer", 1, completion="", messages=[]),  # forced answer without a policy call: not trainable
        step(3, "answer", 1, completion='{"action": "answer", "answer": "4821"}',
             messages=[{"role": "user", "content": "Graph:\n" + evidence}]),
    ]
    return traj([node(0, []), node(1, [0], scores=[5])], steps, 1)


def test_segments_are_trainable_steps_with_their_masks():
    t = _obs_traj()
    segs = segment_trajectory(t, mask=ggpo_mask(t, 0.0), trajectory_index=3)
    assert [s.step for s in segs] == [0, 1, 3]
    assert [s.masked for s in segs] == [True, True, False]  # valuable retrieval in a negative
    assert all(s.trajectory == 3 for s in segs)
    with pytest.raises(TrajectoryError, match="mask has 2 entries"):
        segment_trajectory(t, mask=[False, False])


def test_only_completion_tokens_get_loss(tokenizer):
    t = _obs_traj()
    seg = segment_trajectory(t)[1]
    tok = tokenize_step(tokenizer, seg.messages, seg.completion)
    prompt = render_prompt(tokenizer, seg.messages)
    n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert tok.prompt_len == n_prompt
    assert tok.loss_mask == [0] * n_prompt + [1] * (len(tok.input_ids) - n_prompt)
    # the observation (retrieved evidence) lies entirely in the zero-loss region
    loss_text = tokenizer.decode([i for i, m in zip(tok.input_ids, tok.loss_mask, strict=True) if m])
    assert "4821" in seg.messages[1]["content"] and "Fact Check" not in loss_text
    assert loss_text.startswith('{"action": "memorize"') and loss_text.endswith("<|im_end|>")


def test_recorded_ids_are_used_verbatim(tokenizer):
    msgs = [{"role": "user", "content": "hi"}]
    key = generation_key(render_prompt(tokenizer, msgs), "yo")
    tok = tokenize_step(tokenizer, msgs, "yo", recorded={key: ([5, 6, 7], [8, 9])})
    assert tok.input_ids == [5, 6, 7, 8, 9] and tok.loss_mask == [0, 0, 0, 1, 1] and tok.meta["exact_ids"]


def test_long_prompts_are_cut_from_the_left(tokenizer):
    msgs = [{"role": "user", "content": "word " * 400}]
    tok = tokenize_step(tokenizer, msgs, "ok", max_prompt_tokens=50)
    assert tok.prompt_len == 50 and tok.meta["prompt_cut"] > 0 and sum(tok.loss_mask) == tok.completion_len
