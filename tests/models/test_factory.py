from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vimrag.config import ModelsConfig
from vimrag.errors import ConfigError, MissingExtraError, ModelUnavailableError
from vimrag.models.base import LanguageModel
from vimrag.models.factory import make_embedder, make_llm, split_spec
from vimrag.models.openai_compat import OpenAICompatEmbedder, OpenAICompatLLM


def test_split_spec_keeps_colons_after_the_first() -> None:
    assert split_spec("openai:http://h:8000/v1#m", "x", ["openai"]) == ("openai", "http://h:8000/v1#m")
    assert split_spec("LlamaCpp:/a/b.gguf", "x", ["llamacpp"]) == ("llamacpp", "/a/b.gguf")


@pytest.mark.parametrize("spec", ["", "llamacpp", "llamacpp:", ":x"])
def test_malformed_specs(spec: str) -> None:
    with pytest.raises(ConfigError, match="BACKEND:ARGUMENT.*llamacpp, openai"):
        make_llm(spec)


def test_unknown_backend_lists_known_ones() -> None:
    with pytest.raises(
        ConfigError, match="unknown language model backend 'vllm'.*known backends: llamacpp, openai"
    ):
        make_llm("vllm:http://x")
    with pytest.raises(ConfigError, match="known backends: onnx, openai, sentence-transformers"):
        make_embedder("clip:ViT-B-32")


def test_openai_specs_build_without_contacting_a_server() -> None:
    llm = make_llm("openai:http://127.0.0.1:9/v1#some/model", ModelsConfig())
    assert isinstance(llm, OpenAICompatLLM) and isinstance(llm, LanguageModel)
    assert llm.model == "some/model" and llm.base_url == "http://127.0.0.1:9/v1"
    emb = make_embedder("openai:http://127.0.0.1:9/v1#e5")
    # (not isinstance(emb, TextEmbedder): on Python 3.11 that reads `dim`, which asks the server)
    assert isinstance(emb, OpenAICompatEmbedder) and callable(emb.embed) and emb.name.startswith("openai:")
    with pytest.raises(ConfigError, match="http"):
        make_llm("openai:localhost:8000#m")
    with pytest.raises(ConfigError, match="must name the model"):
        make_embedder("openai:http://127.0.0.1:9/v1")


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A None entry in sys.modules makes the import fail as if the package were not installed.
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'vimrag\[local\]'"):
        make_llm(f"llamacpp:{gguf}")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingExtraError, match=r"vimrag\[st\]"):
        make_embedder(f"sentence-transformers:{tmp_path}")


def test_unknown_local_model_fails_fast_without_download() -> None:
    with pytest.raises(ModelUnavailableError, match="unknown model 'no-such-model'"):
        make_llm("llamacpp:no-such-model")
    with pytest.raises(ModelUnavailableError, match="cannot be downloaded"):
        make_embedder("sentence-transformers:BAAI/bge-small-en")
