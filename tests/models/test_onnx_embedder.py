"""The default embedder: int8 all-MiniLM-L6-v2 on ONNX Runtime, checked against the fp32 model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from vimrag.errors import ModelUnavailableError
from vimrag.models.base import TextEmbedder
from vimrag.models.embedders import OnnxEmbedder
from vimrag.models.factory import make_embedder
from vimrag.models.registry import resolve_model_file

pytest.importorskip("onnxruntime", reason="pip install 'vimrag[local]'")

TEXTS = [
    "a puppy on a sofa",
    "The North region sold 1,240 bicycles in Q3 2026.",
    "Who leads Project Falcon, and what is its budget?",
    "slide: revenue by quarter (bar chart), no table",
    "word " * 400,  # longer than the 256-token window: truncated as sentence-transformers does
    "x",
]


@pytest.fixture(scope="module")
def onnx() -> OnnxEmbedder:
    try:
        resolve_model_file("all-MiniLM-L6-v2-int8")
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    return OnnxEmbedder("all-MiniLM-L6-v2-int8", n_threads=2)


def test_default_spec_is_onnx(onnx: OnnxEmbedder) -> None:
    emb = make_embedder("onnx:all-MiniLM-L6-v2-int8")
    assert isinstance(emb, OnnxEmbedder) and isinstance(emb, TextEmbedder)
    assert emb.name == "onnx:all-MiniLM-L6-v2-int8" and emb.dim == 384


def test_vectors_are_unit_float32_and_semantic(onnx: OnnxEmbedder) -> None:
    v = onnx.embed(["a puppy", "a dog", "an invoice"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2
    assert onnx.embed([]).shape == (0, 384)


def test_batching_and_padding_do_not_change_a_vector(onnx: OnnxEmbedder) -> None:
    """Texts of very different lengths share a padded batch; each must equal its embedding alone."""
    together = onnx._encode(TEXTS)
    alone = np.stack([onnx._encode([t])[0] for t in TEXTS])
    assert np.allclose(together, alone, atol=1e-5)


@pytest.mark.slow
def test_matches_the_fp32_model_and_its_rankings(onnx: OnnxEmbedder) -> None:
    pytest.importorskip("sentence_transformers", reason="pip install 'vimrag[st]'")
    from vimrag.models.embedders import SentenceTransformerEmbedder

    fp32 = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    a, b = onnx.embed(TEXTS), fp32.embed(TEXTS)
    cos = (a * b).sum(axis=1)
    assert cos.min() > 0.998, cos
    for i, q in enumerate(["dog on a couch", "bicycle sales of the north", "project lead and budget",
                           "bar chart slide"]):
        sa, sb = a[:4] @ onnx.embed([q])[0], b[:4] @ fp32.embed([q])[0]
        assert int(np.argmax(sa)) == int(np.argmax(sb)) == i, q  # the same best document
        assert np.abs(sa - sb).max() < 0.02, q  # and near-equal scores for the rest


def test_a_local_onnx_file_needs_its_tokenizer(onnx: OnnxEmbedder, tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    shutil.copyfile(onnx.path, model)
    with pytest.raises(ModelUnavailableError, match="no tokenizer.json beside"):
        OnnxEmbedder(str(model))
    with pytest.raises(ModelUnavailableError, match="needs a .onnx file"):
        OnnxEmbedder(str(tmp_path))
    bad = tmp_path / "bad" / "model.onnx"
    bad.parent.mkdir()
    bad.write_bytes(b"not an onnx graph")
    (bad.parent / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelUnavailableError, match="cannot read the tokenizer"):
        OnnxEmbedder(str(bad))
    shutil.copyfile(tmp_path / "model.onnx", tmp_path / "copy.onnx")
    good_tok = onnx._tokenizer.to_str()
    (bad.parent / "tokenizer.json").write_text(good_tok)
    with pytest.raises(ModelUnavailableError, match="ONNX Runtime cannot load"):
        OnnxEmbedder(str(bad))
