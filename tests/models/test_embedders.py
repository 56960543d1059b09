from __future__ import annotations

import numpy as np
import pytest

from vimrag.errors import ModelUnavailableError
from vimrag.models.base import TextEmbedder
from vimrag.models.embedders import SentenceTransformerEmbedder
from vimrag.models.registry import resolve_model_file

pytest.importorskip("sentence_transformers", reason="pip install 'vimrag[local]'")


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    try:
        resolve_model_file("all-MiniLM-L6-v2")
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


def test_unknown_model_is_refused_without_download() -> None:
    with pytest.raises(ModelUnavailableError, match="cannot be downloaded"):
        SentenceTransformerEmbedder("sentence-transformers/all-mpnet-base-v2")


@pytest.mark.slow
def test_minilm_semantics_shape_and_norm(minilm: SentenceTransformerEmbedder) -> None:
    assert isinstance(minilm, TextEmbedder) and minilm.dim == 384
    v = minilm.embed(["a puppy", "a dog", "an invoice"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2
    assert minilm.embed([]).shape == (0, 384)
    with pytest.raises(TypeError):
        minilm.embed("a puppy")  # type: ignore[arg-type]


@pytest.mark.slow
def test_cache_returns_identical_vectors(minilm: SentenceTransformerEmbedder) -> None:
    texts = ["red car", "blue sky", "red car"]
    a = minilm.embed(texts)
    assert np.array_equal(a[0], a[2])
    b = minilm.embed(["blue sky", "a new text", "red car"])
    assert np.array_equal(b[0], a[1]) and np.array_equal(b[2], a[0])
    fresh = minilm._encode(["blue sky"])[0]
    assert np.allclose(fresh, a[1], atol=1e-6)


@pytest.mark.slow
def test_local_folder_spec(minilm: SentenceTransformerEmbedder) -> None:
    by_dir = SentenceTransformerEmbedder(str(minilm.path), cache_size=2)
    assert by_dir.name == f"sentence-transformers:{minilm.path}"
    x = by_dir.embed(["one", "two", "three", "one"])
    assert np.allclose(x, minilm.embed(["one", "two", "three", "one"]), atol=1e-6)
    assert len(by_dir._cache) <= 2
