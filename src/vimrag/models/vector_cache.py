"""Vectors of short recurring texts kept on disk per embedder, so a new process need not embed them again.

Why: every ``vimrag search`` is a new process, and mapping a query word that is not itself a memory
concept ("puppy") onto the memory's vocabulary needs the vector of every vocabulary concept — ~1,100 for
the embedded perceiver's COCO/ImageNet/layout names, 2,000 in the synthetic 200k benchmark (1.3 s of
ONNX Runtime on 2 cores, the largest part of a cold search). Concept names recur across processes and
stores, so they are cached by (embedder name, text) in one SQLite file per embedder under
``$VIMRAG_CACHE_DIR`` (default ``~/.cache/vimrag``)``/vectors``. SQLite makes concurrent readers and
writers safe; a cache that cannot be read or written is reported (a warning) and bypassed, never a
failed search.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path

import numpy as np

from vimrag._cache import cache_dir
from vimrag.models.base import TextEmbedder

log = logging.getLogger(__name__)


#: Backends whose name (``backend:model``) pins the vectors it makes. An embedder object given by a caller
#: under another name (a test double, a wrapper) is not cached on disk: its name may not pin its vectors.
PERSISTABLE_BACKENDS = ("onnx", "sentence-transformers", "openai")


def persistable(embedder: TextEmbedder) -> bool:
    return str(embedder.name).split(":", 1)[0] in PERSISTABLE_BACKENDS


class PersistentVectors:
    """``embed`` through an on-disk text → vector table of one embedder (see the module docstring).

    Only for short texts (concept names): item texts and queries go to the embedder directly.
    """

    def __init__(self, embedder: TextEmbedder, directory: Path | None = None) -> None:
        self.embedder = embedder
        digest = hashlib.sha256(str(embedder.name).encode("utf-8")).hexdigest()[:16]
        self.path = (directory or cache_dir() / "vectors") / f"{digest}.sqlite"

    @property
    def name(self) -> str:
        return str(self.embedder.name)

    @property
    def dim(self) -> int:
        return int(self.embedder.dim)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=5.0)
        con.execute("CREATE TABLE IF NOT EXISTS vec (text TEXT PRIMARY KEY, v BLOB NOT NULL)")
        return con

    def _read(self, texts: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        con = self._connect()
        try:
            for start in range(0, len(texts), 500):  # SQLite's bound-parameter limit
                chunk = texts[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for text, blob in con.execute(f"SELECT text, v FROM vec WHERE text IN ({marks})", chunk):  # noqa: S608
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape == (self.dim,):
                        found[text] = vec
        finally:
            con.close()
        return found

    def _write(self, vectors: dict[str, np.ndarray]) -> None:
        con = self._connect()
        try:
            with con:
                con.executemany("INSERT OR REPLACE INTO vec (text, v) VALUES (?, ?)",
                                [(t, np.asarray(v, np.float32).tobytes()) for t, v in vectors.items()])
        finally:
            con.close()

    def embed(self, texts: list[str]) -> np.ndarray:
        unique = list(dict.fromkeys(texts))
        try:
            known = self._read(unique)
        except sqlite3.Error as exc:
            log.warning("vector cache %s unreadable (%s): embedding without it", self.path, exc)
            known = {}
        missing = [t for t in unique if t not in known]
        if missing:
            fresh = np.asarray(self.embedder.embed(missing), dtype=np.float32)
            new = dict(zip(missing, fresh, strict=True))
            try:
                self._write(new)
            except sqlite3.Error as exc:
                log.warning("vector cache %s not writable (%s): vectors not kept", self.path, exc)
            known.update(new)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([known[t] for t in texts]).astype(np.float32, copy=False)
