"""On-disk vectors of concept names: a second process reads them instead of embedding again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from vimrag.models.vector_cache import PersistentVectors, cache_dir


class CountingEmbedder:
    """A deterministic stand-in for a text embedder that counts what it was asked to embed."""

    name = "onnx:counting-test-double"
    dim = 4

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        rows = [np.frombuffer(t.ljust(16)[:16].encode(), dtype=np.uint8)[:4].astype(np.float32) + 1 for t in texts]
        out = np.stack(rows)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_vectors_are_embedded_once_across_instances(tmp_path: Path) -> None:
    first = CountingEmbedder()
    a = PersistentVectors(first, tmp_path).embed(["dog", "cat", "dog"])
    assert first.seen == ["dog", "cat"] and a.shape == (3, 4) and np.array_equal(a[0], a[2])
    second = CountingEmbedder()  # a new process: nothing in memory, the file has them
    b = PersistentVectors(second, tmp_path).embed(["cat", "dog", "bus"])
    assert second.seen == ["bus"]
    assert np.array_equal(b[0], a[1]) and np.array_equal(b[1], a[0])
    assert PersistentVectors(second, tmp_path).embed([]).shape == (0, 4)


def test_a_broken_cache_file_is_bypassed_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    emb = CountingEmbedder()
    cache = PersistentVectors(emb, tmp_path)
    cache.path.parent.mkdir(parents=True, exist_ok=True)
    cache.path.write_bytes(b"this is not a database" * 100)
    out = cache.embed(["dog"])
    assert out.shape == (1, 4) and emb.seen == ["dog"]
    assert "vector cache" in caplog.text
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(cache.path).execute("SELECT * FROM vec").fetchall()


def test_only_backend_embedders_are_cached_on_disk() -> None:
    from vimrag.models.vector_cache import persistable

    class Bag(CountingEmbedder):
        name = "bag"

    assert persistable(CountingEmbedder()) and not persistable(Bag())


def test_cache_dir_follows_the_environment(tmp_path: Path) -> None:
    assert cache_dir({"VIMRAG_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert cache_dir({}).parts[-2:] == (".cache", "vimrag")
