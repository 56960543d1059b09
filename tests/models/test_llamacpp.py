"""llama.cpp backend against the real Qwen2.5-Coder-0.5B GGUF (slow) and SmolLM2 (smoke)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from vimrag.config import ModelsConfig
from vimrag.errors import ModelUnavailableError, VimragError
from vimrag.models.base import ImageInput, LanguageModel, Message
from vimrag.models.llamacpp import ContextOverflowError, LlamaCppLLM, _flatten
from vimrag.models.registry import resolve_model_file

pytest.importorskip("xllamacpp", reason="xllamacpp is not installed (pip install 'vimrag[local]')")

CFG = ModelsConfig(n_ctx=2048, n_threads=2, seed=0)


def test_images_reach_a_text_model_as_labels() -> None:
    img = Image.new("RGB", (8, 8))
    msgs = _flatten(
        [Message("user", "What is shown?", [ImageInput(img, label="a red bus"), ImageInput(img)])]
    )
    assert msgs == [
        {
            "role": "user",
            "content": "[image: a red bus]\n[image: an image without description]\nWhat is shown?",
        }
    ]


def test_load_failure_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelUnavailableError, match="llama.cpp could not load .*broken.gguf"):
        LlamaCppLLM(str(bad), CFG)
    with pytest.raises(ModelUnavailableError, match="needs a GGUF file"):
        LlamaCppLLM(str(tmp_path), CFG)


@pytest.fixture(scope="module")
def qwen(qwen05b: LlamaCppLLM) -> LlamaCppLLM:
    return qwen05b


@pytest.fixture(scope="module")
def qwen15b() -> Iterator[LlamaCppLLM]:
    try:
        path = resolve_model_file("qwen2.5-coder-1.5b")
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    yield LlamaCppLLM(str(path), CFG)


@pytest.mark.slow
def test_generate_and_count_tokens(qwen: LlamaCppLLM) -> None:
    assert isinstance(qwen, LanguageModel) and qwen.supports_images is False
    comp = qwen.generate([Message("user", "Name one primary colour. One word.")], max_tokens=8)
    assert comp.text.strip()
    assert comp.prompt_tokens > 5 and 0 < comp.completion_tokens <= 8 and comp.seconds > 0
    assert qwen.count_tokens("hello world") == 2
    assert qwen.count_tokens("") == 0


@pytest.mark.slow
def test_logit_bias_shifts_the_choice_of_a_token(qwen: LlamaCppLLM) -> None:
    """``logit_bias`` keyed by text reaches llama.cpp as the text's token id: a large bias on "No" turns the
    model's "Yes" into "No"; an empty or zero bias leaves the reply as it was."""
    ask = [Message("user", "Is Paris the capital of France? Answer with one word, Yes or No.")]
    plain = qwen.generate(ask, max_tokens=2).text.strip()
    assert plain.startswith("Yes")
    assert qwen.generate(ask, max_tokens=2, logit_bias={"No": 30.0}).text.strip().startswith("No")
    assert qwen.generate(ask, max_tokens=2, logit_bias={"No": 0.0}).text.strip() == plain


@pytest.mark.slow
def test_generate_json_follows_schema(qwen: LlamaCppLLM) -> None:
    schema = {
        "type": "object",
        "properties": {"wanted": {"type": "array", "items": {"type": "string"}},
                       "unwanted": {"type": "array", "items": {"type": "string"}}},
        "required": ["wanted", "unwanted"],
    }  # fmt: skip
    value, comp = qwen.generate_json(
        [Message("user", "Query: 'photos of dogs without cats'. List wanted and unwanted objects as JSON.")],
        schema,
        max_tokens=48,
    )
    assert isinstance(value, dict) and set(value) == {"wanted", "unwanted"}
    assert all(isinstance(x, str) for x in value["wanted"] + value["unwanted"])
    assert comp.completion_tokens > 0


@pytest.mark.slow
def test_yes_probability_is_a_deterministic_probability(qwen: LlamaCppLLM) -> None:
    q = "Is Paris the capital of France? Answer Yes or No."
    p1 = qwen.yes_probability(q)
    assert 0.0 < p1 < 1.0
    qwen.generate([Message("user", "Unrelated: " + "tokens " * 50)], max_tokens=1)  # evicts the prefix
    p_fresh = qwen.yes_probability(q)
    p_cached = qwen.yes_probability(q)  # the whole prompt but its last token comes from the KV cache
    assert p_fresh == pytest.approx(p1, abs=0.02) and p_cached == pytest.approx(p1, abs=0.02)


@pytest.mark.slow
def test_a_shared_prefix_is_not_evaluated_again(qwen: LlamaCppLLM) -> None:
    """The agent's prompts grow by appending: the second call re-uses the first one's KV cache."""
    head = "Evidence:\n" + "The North region sold 1,240 bicycles in Q3. " * 20
    first = qwen.generate([Message("user", head + "\nQuestion: how many?")], max_tokens=4)
    second = qwen.generate([Message("user", head + "\nQuestion: which region?")], max_tokens=4)
    assert first.raw["timings"]["prompt_n"] > 200
    assert second.raw["timings"]["cache_n"] >= first.prompt_tokens - 12
    assert second.raw["timings"]["prompt_n"] < 20
    # what the agent reports as tokens.cached and per-step prefill/decode (issue 13)
    assert second.cached_tokens == second.raw["timings"]["cache_n"] > 0
    ph = second.phases()
    assert ph["prefill_tokens"] < 20 and ph["decode_tokens"] >= 1 and ph["prefill_s"] >= 0 and ph["decode_s"] > 0


@pytest.mark.slow
def test_prompt_families_keep_their_own_cache(qwen: LlamaCppLLM) -> None:
    """models.n_slots = 4 (the fixture's default): an agent alternates decision and memorize prompts, and an
    eval runs methods question by question (rag's answer, ReAct's decision too); each family returns to the
    slot that holds its prefix (with one slot, B evicted A's prefix; with two, the third evicted one).
    llama.cpp sends a prompt to a slot whose cached prompt holds more than ``slot_prompt_similarity`` (0.1)
    of it, else to the least recently used one: the families here share only the chat template's head
    (~25 tokens of ~350), as the agent's do (4-18 of 600-900)."""
    lines = ["Graph: node 1 says the North region sold 1,240 bicycles. ",
             "Result: the South region sold 905 bicycles in Q3. ",
             "Thought: the West region figure is still missing here. ",
             "Evidence: the East region bought 77 tandem bicycles. "]
    heads = [line * 25 for line in lines]
    for head in heads:
        qwen.generate([Message("user", head + "\nReply:")], max_tokens=2)
    again = [qwen.generate([Message("user", head + "\nStep 2: nothing new.\nReply:")], max_tokens=2) for head in heads]
    assert all(c.cached_tokens > 150 for c in again), [c.cached_tokens for c in again]


@pytest.mark.slow
def test_yes_probability_separates_true_from_false(qwen15b: LlamaCppLLM) -> None:
    """With the default 1.5B model. (The 0.5B model says "Yes" to almost anything: P≈0.63–0.68 for
    "Is Berlin the capital of France?", "Is 2 + 2 equal to 5?"; measured on 2026-11-21.)"""
    p_true = qwen15b.yes_probability("Is Paris the capital of France? Answer Yes or No.")
    p_false = qwen15b.yes_probability("Is Berlin the capital of France? Answer Yes or No.")
    assert p_true > 0.5 > p_false
    bus = ImageInput(Image.new("RGB", (8, 8)), label="a red bus on a street")
    p_bus = qwen15b.yes_probability("Is there a bus in the image? Answer Yes or No.", [bus])
    p_cat = qwen15b.yes_probability("Is there a cat in the image? Answer Yes or No.", [bus])
    assert p_bus > 0.5 > p_cat


@pytest.mark.slow
def test_context_overflow_is_clear(qwen: LlamaCppLLM) -> None:
    with pytest.raises(ContextOverflowError, match="n_ctx"):
        qwen.yes_probability("word " * 3000)


@pytest.mark.slow
def test_smollm_smoke(smollm_path: Path) -> None:
    llm = LlamaCppLLM("smollm2-135m", ModelsConfig(n_ctx=512, n_threads=2))
    assert llm.generate([Message("user", "Hi")], max_tokens=4).text.strip()
    assert 0.0 < llm.yes_probability("Is water wet? Answer Yes or No.") < 1.0


@pytest.mark.slow
def test_close_frees_the_model_once(smollm_path: Path) -> None:
    llm = LlamaCppLLM("smollm2-135m", ModelsConfig(n_ctx=512, n_threads=2))
    box = llm._box
    assert llm._finalizer.alive and len(box) == 1
    llm.close()
    assert not llm._finalizer.alive and box == []  # the server object, the model's only owner, is gone
    llm.close()  # idempotent
    with pytest.raises(VimragError, match="closed"):
        llm.generate([Message("user", "Hi")], max_tokens=2)
    with pytest.raises(VimragError, match="closed"):
        llm.count_tokens("hello")
