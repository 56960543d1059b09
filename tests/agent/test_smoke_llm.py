"""Real-model smoke test: the 0.5B Qwen2.5-Coder GGUF drives each method over the small test corpus.

It checks that a real small model can follow the prompts well enough for the loop to complete with a
saved trajectory and real token counts; accuracy is measured by the evaluation harness, not here.
"""

from __future__ import annotations

import pytest

from vimrag.agent.loop import AgentLoop as Agent
from vimrag.agent.methods import METHODS
from vimrag.config import ModelsConfig
from vimrag.errors import VimragError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_llm():
    try:
        from vimrag.models.factory import make_llm

        return make_llm("llamacpp:qwen2.5-coder-0.5b", ModelsConfig(n_ctx=4096))
    except (ImportError, VimragError) as exc:  # MissingExtraError / ModelUnavailableError say what to install
        pytest.skip(f"llama.cpp backend or the 0.5B GGUF is not available: {exc}")


@pytest.mark.parametrize("method", METHODS)
def test_small_model_completes_each_method(small_llm, corpus, config, method):
    cfg = config.with_overrides({"agent.max_steps": 3, "agent.max_completion_tokens": 96})
    res = Agent(small_llm, corpus, cfg).ask("Who directed the film Jaws?", method=method)
    tr = res.record
    assert res.trajectory is not None and res.trajectory.is_file()
    assert 1 <= sum(1 for s in tr.steps if s.action != "memorize") <= 3
    assert res.tokens["prompt"] > 0 and res.tokens["completion"] > 0
    assert all(s.completion for s in tr.steps if s.messages)  # every policy call answered (rag: the search is not one)
    assert any(s.action != "invalid" for s in tr.steps), "the model never produced a parseable action"
    assert isinstance(res.answer, str)
