"""A trainable policy: a transformers causal LM behind the :class:`~vimrag.models.base.LanguageModel` protocol.

Rollouts must go through the same agent code as serving (VimRAG §3.3 trains the deployed agent, not a
look-alike), so the policy is just another ``LanguageModel`` handed to the agent. On top of the protocol
it records, for every generation, the exact prompt and sampled completion token ids
(:attr:`TransformersPolicy.recorded`), so the trainer scores exactly the tokens that were sampled.

Where the weights come from (``train.policy``):

- ``tiny-qwen2[:SEED]`` — a randomly initialised 2-layer Qwen2-architecture model with a byte-level BPE
  tokenizer trained on the spot and a ChatML template: no download, for tests and smoke runs.
- a local Hugging Face model directory (``config.json`` + weights + tokenizer).
- a ``.gguf`` file, or a registry name (``qwen2.5-coder-0.5b``, ``smollm2-135m``) resolved by
  :func:`vimrag.models.registry.resolve_model_file`; transformers de-quantises GGUF to float32
  (needs the ``gguf`` package).

The hub is never contacted: ``HF_HUB_OFFLINE=1`` is set for the load, and a spec that is neither a
file, a folder, a registry name nor ``tiny-qwen2`` fails with :class:`ModelUnavailableError`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vimrag._extras import require
from vimrag.errors import ModelUnavailableError
from vimrag.models._quiet import hub_offline
from vimrag.models.base import Completion, ImageInput, Message
from vimrag.train.segment import generation_key, render_prompt

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_TINY_CORPUS = (
    "You are a retrieval agent. Answer the question using the memory graph. Actions: retrieve, memorize, "
    "answer. Reply with JSON: {\"action\": \"retrieve\", \"query\": \"...\", \"parents\": [0]} or "
    "{\"action\": \"answer\", \"answer\": \"...\"}. Question: What is the code of the blue door? "
    "Evidence: [Fact Check: VERIFIED] The code of the blue door is 4821. summary score saliency node "
    "0123456789 the of is a in and to what which who when where how many year name city country person"
)


def build_tiny_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer trained offline on a small built-in text, with a ChatML template."""
    tokenizers = require("tokenizers", "train")
    transformers = require("transformers", "train")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_TINY_CORPUS] * 4, trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny_qwen2(
    seed: int = 0, *, hidden: int = 64, layers: int = 2, vocab_size: int = 512, tie_embeddings: bool = True
) -> tuple[Any, Any]:
    """(model, tokenizer): a randomly initialised Qwen2 causal LM, deterministic for a seed."""
    torch = require("torch", "train")
    transformers = require("transformers", "train")
    tok = build_tiny_tokenizer(vocab_size)
    cfg = transformers.Qwen2Config(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        tie_word_embeddings=tie_embeddings,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    g = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = transformers.Qwen2ForCausalLM(cfg)
    torch.random.set_rng_state(g)
    return model, tok


def load_policy_model(spec: str) -> tuple[Any, Any, str]:
    """Resolve ``train.policy`` to (model, tokenizer, name). Never reaches a model hub."""
    transformers = require("transformers", "train")
    spec = spec.strip()
    if spec == "tiny-qwen2" or spec.startswith("tiny-qwen2:"):
        seed = int(spec.split(":", 1)[1]) if ":" in spec else 0
        model, tok = build_tiny_qwen2(seed)
        return model, tok, spec
    path = Path(spec).expanduser()
    if not path.exists():
        from vimrag.models.registry import REGISTRY, resolve_model_file

        if spec not in REGISTRY:
            raise ModelUnavailableError(
                f"train.policy {spec!r} is not a local model folder, a .gguf file, a registry name "
                f"({', '.join(n for n, e in REGISTRY.items() if e.role == 'llm')}) or 'tiny-qwen2'. "
                "Models are never downloaded from a hub; point it at local weights."
            )
        path = Path(resolve_model_file(spec))
    with hub_offline():
        try:
            if path.is_file() and path.suffix == ".gguf":
                require("gguf", "train")
                tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    str(path.parent), gguf_file=path.name, dtype="float32"
                )
            elif path.is_dir():
                tok = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                model = transformers.AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True)
            else:
                raise ModelUnavailableError(f"{path}: expected a .gguf file or a Hugging Face model folder")
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(f"cannot load policy from {path}: {exc}") from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok, path.name


def apply_lora(model: Any, *, r: int = 8, alpha: int = 16, dropout: float = 0.0) -> Any:
    """Wrap the model with LoRA adapters on the attention and MLP projections (peft)."""
    peft = require("peft", "train")
    cfg = peft.LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, cfg)


def _as_dicts(messages: Sequence[Message | dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for m in messages:
        if isinstance(m, Message):
            content = m.content
            if m.images:  # text-only policy: images reach it as their text placeholders
                content = content + "".join(f"\n[image: {im.label}]" for im in m.images if im.label)
            out.append({"role": m.role, "content": content})
        else:
            out.append({"role": str(m["role"]), "content": str(m.get("content", ""))})
    return out


class TransformersPolicy:
    """``LanguageModel`` over a transformers causal LM, recording sampled token ids for training.

    ``temperature``/``top_p`` set here override the per-call values: the agent asks for greedy decoding
    when serving, but training needs G *different* trajectories per question from the same code path.
    """

    supports_images = False

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "policy",
        temperature: float | None = None,
        top_p: float = 1.0,
        max_prompt_tokens: int = 2048,
        record: bool = True,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.temperature = temperature
        self.top_p = top_p
        self.max_prompt_tokens = max_prompt_tokens
        self.record = record
        self.recorded: dict[str, tuple[list[int], list[int]]] = {}
        self.generated_tokens = 0

    @classmethod
    def from_spec(cls, spec: str, *, lora: bool = False, lora_r: int = 8, lora_alpha: int = 16,
                  lora_dropout: float = 0.0, **kwargs: Any) -> TransformersPolicy:
        model, tok, name = load_policy_model(spec)
        if lora:
            model = apply_lora(model, r=lora_r, alpha=lora_alpha, dropout=lora_dropout)
        return cls(model, tok, name=name, **kwargs)

    # -- LanguageModel protocol -------------------------------------------------------------------------
    def _stop_ids(self) -> list[int]:
        from vimrag.train.segment import end_of_turn_id

        ids = {end_of_turn_id(self.tokenizer), self.tokenizer.eos_token_id}
        return [int(i) for i in ids if i is not None]

    def generate(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        seed: int | None = None,
        logit_bias: dict[str, float] | None = None,
    ) -> Completion:
        """One completion. ``logit_bias`` is ignored on purpose: GGPO's rollouts must sample the policy's
        own distribution (an inference-time prior on its actions would make the gradient off-policy)."""
        torch = require("torch", "train")
        if seed is not None:  # a sampled call that must differ from its siblings (candidate answers)
            torch.manual_seed(int(seed))
        t0 = time.perf_counter()
        prompt = render_prompt(self.tokenizer, _as_dicts(messages))
        prompt_ids = list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if len(prompt_ids) > self.max_prompt_tokens:
            prompt_ids = prompt_ids[-self.max_prompt_tokens:]
        temp = self.temperature if self.temperature is not None else temperature
        stop_ids = self._stop_ids()
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                inp = torch.tensor([prompt_ids])
                kwargs: dict[str, Any] = dict(
                    max_new_tokens=max(1, int(max_tokens)),
                    eos_token_id=stop_ids,
                    pad_token_id=self.tokenizer.pad_token_id,
                    attention_mask=torch.ones_like(inp),
                )
                if temp and temp > 0:
                    kwargs.update(do_sample=True, temperature=float(temp), top_p=float(self.top_p), top_k=0)
                else:
                    kwargs.update(do_sample=False)
                out = self.model.generate(inp, **kwargs)
        finally:
            if was_training:
                self.model.train()
        completion_ids = [int(x) for x in out[0, len(prompt_ids):].tolist()]
        text_ids = [i for i in completion_ids if i not in stop_ids]
        text = self.tokenizer.decode(text_ids, skip_special_tokens=True)
        cut = False
        for s in stop or []:
            if s and s in text:
                text = text[: text.index(s)]
                cut = True
        if self.record and not cut and text:
            # the trainer re-renders the prompt from the agent's messages; key on that rendering
            self.recorded[generation_key(prompt, text)] = (prompt_ids, completion_ids)
        self.generated_tokens += len(completion_ids)
        return Completion(
            text=text,
            prompt_tokens=len(prompt_ids),
            completion_tokens=len(completion_ids),
            seconds=time.perf_counter() - t0,
            raw={"completion_ids": completion_ids, "finished": bool(completion_ids and completion_ids[-1] in stop_ids)},
        )

    def generate_json(
        self,
        messages: list[Message],
        schema: dict[str, Any] | None = None,
        *,
        max_tokens: int = 256,
    ) -> tuple[Any, Completion]:
        from vimrag.models.jsonparse import JSONExtractionError, parse_json_loose

        comp = self.generate(messages, max_tokens=max_tokens)
        try:
            return parse_json_loose(comp.text), comp
        except JSONExtractionError:
            return None, comp

    def yes_probability(self, prompt: str, images: list[ImageInput] | None = None) -> float:
        torch = require("torch", "train")
        text = render_prompt(self.tokenizer, [{"role": "user", "content": prompt}])
        ids = torch.tensor([self.tokenizer(text, add_special_tokens=False)["input_ids"][-self.max_prompt_tokens:]])
        with torch.no_grad():
            logits = self.model(input_ids=ids).logits[0, -1].float()
        yes = self.tokenizer("Yes", add_special_tokens=False)["input_ids"][0]
        no = self.tokenizer("No", add_special_tokens=False)["input_ids"][0]
        pair = torch.softmax(torch.stack([logits[yes], logits[no]]), dim=0)
        return float(pair[0])

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
