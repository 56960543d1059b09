"""``Memory``: the long-term polarized memory (PolarMem) that a corpus lives in.

This is a thin facade. It builds the parts chosen in :class:`~vimrag.config.Config` lazily — the store
(``vimrag.store``), the models (``vimrag.models``), the media (``vimrag.store.media``) — and hands them
to the ingest pipeline (``vimrag.ingestion``) and to logic-aware retrieval (``vimrag.polar.retrieval``).

Example::

    from vimrag import Memory
    mem = Memory()                      # ./.vimrag, embedded models
    mem.add(["docs/", "photos/"])
    for hit in mem.search("a photo with a cup but no person", k=3).hits:
        print(hit.state.label, hit.item.source, hit.item.locator)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from vimrag.config import Config, load_config
from vimrag.errors import ConfigError
from vimrag.ingestion import FileOutcome, IngestParts, IngestReport, display_path, ingest_files
from vimrag.models.base import LanguageModel, Perceiver, TextEmbedder
from vimrag.progress import ProgressCallback
from vimrag.store.base import SourceRecord, VectorStore
from vimrag.store.media import MediaBase, media_names
from vimrag.types import Item, SearchResult

if TYPE_CHECKING:
    from vimrag.polar.query import ParsedQuery
    from vimrag.polar.retrieval import PolarRetriever

__all__ = ["FileOutcome", "IngestReport", "Memory", "SharedEmbedder"]


class Memory:
    """Polarized multimodal memory over a store. Models are loaded lazily, on first use."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        store: str | None = None,
        workspace: str | None = None,
        embedder: TextEmbedder | None = None,
        perceiver: Perceiver | None = None,
        llm: LanguageModel | None = None,
    ) -> None:
        cfg = config or load_config()
        if store is not None:
            cfg = cfg.with_overrides({"store.uri": store})
        if workspace is not None:  # a corpus of its own inside the store (store.workspace)
            cfg = cfg.with_overrides({"store.workspace": workspace})
        self.config = cfg
        self._embedder = embedder
        self._perceiver = perceiver
        self._llm = llm
        self._owns_llm = False  # True once this Memory made the LLM itself (close() then frees it)
        self._entities: Any = None
        self._embedder_lock = threading.Lock()

    # ------------------------------------------------------------------ parts, built lazily
    @cached_property
    def store(self) -> VectorStore:
        from vimrag.store.factory import open_store

        return open_store(self.config.store.uri, self.config)

    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:
            with self._embedder_lock:  # one load, also when preload_embedder's thread is at it
                if self._embedder is None:
                    from vimrag.models.factory import make_embedder

                    self._embedder = make_embedder(self.config.models.embedder, self.config.models)
        return self._embedder

    def preload_embedder(self) -> None:
        """Start loading the embedder in a background thread, so that it overlaps opening the store (a
        one-query ``vimrag search`` spends most of its time on the two). A load that fails there leaves the
        embedder unset: the next use loads it again in the caller's thread and raises the error there."""

        def load() -> None:
            try:
                _ = self.embedder
            except Exception:  # noqa: BLE001, S110 - re-raised by the caller's own load (docstring)
                pass

        threading.Thread(target=load, name="vimrag-embedder-preload", daemon=True).start()

    @property
    def embedder_name(self) -> str:
        """The embedder's name without loading it: ``models.embedder`` (backends name themselves by their
        spec) unless an embedder object was given."""
        return str(self._embedder.name) if self._embedder is not None else self.config.models.embedder

    @property
    def llm(self) -> LanguageModel:
        if self._llm is None:
            from vimrag.models.factory import make_llm

            self._llm = make_llm(self.config.models.llm, self.config.models)
            self._owns_llm = True
        return self._llm

    @property
    def perceiver(self) -> Perceiver:
        if self._perceiver is None:
            from vimrag.models.perceivers import make_perceiver

            self._perceiver = make_perceiver(self.config)
        return self._perceiver

    @property
    def entity_extractor(self) -> Any:
        if self._entities is None:
            from vimrag.polar.entities import EntityExtractor

            self._entities = EntityExtractor()
        return self._entities

    @cached_property
    def media(self) -> MediaBase:
        """Thumbnails and keyframes, where the store factory puts this store's (a folder, the database, a
        bucket: ``vimrag.store.factory.open_media``)."""
        from vimrag.store.factory import open_media

        return open_media(self.config)

    # ------------------------------------------------------------------ ingest
    def add(
        self,
        paths: str | Path | Iterable[str | Path],
        *,
        progress: bool | ProgressCallback = True,
        engine: str | None = None,
    ) -> IngestReport:
        """Ingest files and folders (recursively). Idempotent: unchanged files are skipped by content hash,
        changed files replace their items atomically. A bad file is reported and skipped; nothing stored is lost.

        ``engine``: ``"local"`` (this process) or ``"ray"`` (perception and embedding on Ray Data workers,
        ``vimrag.ingestion_ray``); default ``ingest.engine``.
        """
        from vimrag.ingest.discover import discover
        from vimrag.store.factory import locate

        if isinstance(paths, (str, Path)):
            paths = [paths]
        kind, where = locate(self.config.store.uri)
        exclude = [Path(where)] if kind == "lance" else []
        skipped: list[FileOutcome] = []

        def on_skip(path: Path, why: str) -> None:  # what a user must hear about (not hidden files)
            if why.startswith(("link leads outside", "folder already visited", "cannot")):
                skipped.append(FileOutcome(display_path(str(path)), "skipped", reason=why))

        if self.media.folder is not None:
            exclude.append(self.media.folder)
        files = discover([Path(p) for p in paths], exclude=exclude, on_skip=on_skip,
                         follow_outside=self.config.ingest.follow_links_outside)
        parts = IngestParts(self.config, self.store, self.media, models=self)
        engine = engine or self.config.ingest.engine
        if engine == "ray":
            from vimrag.ingestion_ray import ingest_files_ray

            report = ingest_files_ray(parts, files, progress)
        elif engine == "local":
            report = ingest_files(parts, files, progress)
        else:
            raise ConfigError(f"unknown ingest engine {engine!r}: use local or ray")
        report.files.extend(skipped)
        return report

    def remove(self, source: str | Path) -> int:
        """Delete a file's items and every edge derived from them, atomically. Returns items removed.

        Media files are named by item id, and ids come from content, so two copies of one file share their
        thumbnails: only media no other source still uses are deleted.
        """
        known = self.store.sources()
        key = str(source) if str(source) in known else str(Path(source).resolve())
        mine: set[str] = set()
        others: set[str] = set()
        for item in self.store.iter_items():
            (mine if item.source == key else others).update(media_names(item))
        n = self.store.remove_source(key)
        self.media.delete(mine - others)
        return n

    # ------------------------------------------------------------------ read
    @cached_property
    def retriever(self) -> PolarRetriever:
        from vimrag.polar.retrieval import PolarRetriever

        # polar.query_parser = "llm": PolarMem's model-based Q+/Q− parsing with the memory's LLM (loaded on
        # the first search), cached per query by the retriever; "rules" needs no model
        llm = self.llm if self.config.polar.query_parser == "llm" else None
        return PolarRetriever(self.store, self.embedder, self.config, llm=llm)

    def search(self, query: str | ParsedQuery, k: int = 10, strict: bool = False,
               similarity: str | None = None) -> SearchResult:
        """Logic-aware retrieval (PolarMem Algorithm 1): verified before neutral before conflicting.

        ``query`` is text (parsed into wanted and unwanted concepts here) or an already-parsed
        :class:`~vimrag.polar.query.ParsedQuery` — e.g. with no concepts for plain dense retrieval, or one
        side only for the ablations. ``strict=True`` returns only items verified to satisfy the query
        (wanted concept HAS, every unwanted concept NOT_HAS), possibly fewer than ``k``: for "A but no B"
        when a wrong item costs more than a missing one. ``similarity`` ("dense" | "lexical" | "hybrid")
        overrides ``polar.similarity`` for this call: how items are ranked inside a logic tier.
        """
        return self.retriever.search(query, k, strict=strict, similarity=similarity)

    def get(self, ids: Sequence[str]) -> list[Item]:
        return self.store.get(list(ids))

    def items(self) -> Iterator[Item]:
        """Every stored item (streamed in batches)."""
        return self.store.iter_items()

    def load_image(self, item: Item) -> Image.Image | None:
        return self.media.load(item)

    def load_keyframes(self, item: Item, times: Sequence[float]) -> list[tuple[float, Image.Image]]:
        return self.media.load_keyframes(item, times)

    def sources(self) -> dict[str, SourceRecord]:
        return self.store.sources()

    def stats(self) -> dict[str, Any]:
        srcs = self.store.sources()
        return {"store": self.config.store.uri, "workspace": self.config.store.workspace, "sources": len(srcs),
                "items": self.store.count(), "concepts": len(self.store.vocabulary())}

    def workspaces(self) -> list[str]:
        """The workspaces (isolated corpora) of this memory's store, ``default`` first when it holds anything."""
        from vimrag.store.factory import workspaces

        return workspaces(self.config)

    def close(self) -> None:
        """Close the store and free the LLM this Memory loaded (one passed in stays the caller's)."""
        if "store" in self.__dict__:
            self.store.close()
        if "media" in self.__dict__:
            self.media.close()
        if self._owns_llm and self._llm is not None:
            close = getattr(self._llm, "close", None)
            if callable(close):
                close()
            self._llm, self._owns_llm = None, False

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SharedEmbedder:
    """A memory's embedder, loaded on first use and called by one thread at a time.

    Lazy, so that a dead embedder server fails before torch loads and a command that needs no embedding
    never loads one; serialised, because the agent's tools, a server's searches and its ingest worker share
    one model, and Hugging Face fast tokenizers fail ("Already borrowed") when two threads encode at once.
    """

    def __init__(self, memory: Memory) -> None:
        self._memory = memory
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self._memory.embedder.name)

    @property
    def dim(self) -> int:
        return int(self._memory.embedder.dim)

    def embed(self, texts: list[str]) -> Any:
        with self._lock:
            return self._memory.embedder.embed(texts)
