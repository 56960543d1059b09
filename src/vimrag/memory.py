"""``Memory``: the long-term polarized memory (PolarMem) that a corpus lives in.

This is a thin facade. It wires the parts chosen in :class:`~vimrag.config.Config` — loaders
(``vimrag.ingest``), perception and graph construction (``vimrag.polar.build``), the store
(``vimrag.store``) and logic-aware retrieval (``vimrag.polar.retrieval``) — and owns nothing but the
ingest bookkeeping: per-file idempotency by content hash, per-file error isolation, and media files.

Example::

    from vimrag import Memory
    mem = Memory()                      # ./.vimrag, embedded models
    mem.add(["docs/", "photos/"])
    for hit in mem.search("a photo with a cup but no person", k=3).hits:
        print(hit.state.label, hit.item.source, hit.item.locator)
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image

from vimrag.config import Config, load_config
from vimrag.errors import IngestError, MissingExtraError, ModelUnavailableError, VimragError
from vimrag.types import Item, SearchResult


@dataclass
class FileOutcome:
    path: str
    status: str  # "added" | "replaced" | "unchanged" | "failed"
    items: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    """What ``Memory.add`` did, file by file. Failures are reported, never raised for a batch."""

    files: list[FileOutcome] = field(default_factory=list)

    def _count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def added(self) -> int:
        return self._count("added")

    @property
    def replaced(self) -> int:
        return self._count("replaced")

    @property
    def unchanged(self) -> int:
        return self._count("unchanged")

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def items(self) -> int:
        return sum(f.items for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "items": self.items,
            "files": [f.__dict__ for f in self.files],
        }


ProgressCallback = Callable[[str, int, int], None]


class Memory:
    """Polarized multimodal memory over a store. Models are loaded lazily, on first use."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        store: str | None = None,
        embedder: Any = None,
        perceiver: Any = None,
        llm: Any = None,
    ) -> None:
        cfg = config or load_config()
        if store is not None:
            cfg = cfg.with_overrides({"store.uri": store})
        self.config = cfg
        self._embedder = embedder
        self._perceiver = perceiver
        self._llm = llm
        self._owns_llm = False  # True once this Memory made the LLM itself (close() then frees it)
        self._entities: Any = None

    # ------------------------------------------------------------------ parts, built lazily
    @cached_property
    def store(self) -> Any:
        from vimrag.store.factory import open_store

        return open_store(self.config.store.uri, self.config)

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from vimrag.models.factory import make_embedder

            self._embedder = make_embedder(self.config.models.embedder, self.config.models)
        return self._embedder

    @property
    def llm(self) -> Any:
        if self._llm is None:
            from vimrag.models.factory import make_llm

            self._llm = make_llm(self.config.models.llm, self.config.models)
            self._owns_llm = True
        return self._llm

    @property
    def perceiver(self) -> Any:
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
    def media_root(self) -> Path:
        """Where thumbnails and keyframes live: beside a folder store, else in the user cache."""
        if self.config.store.media_dir:
            root = Path(self.config.store.media_dir)
        elif "://" not in self.config.store.uri:
            root = Path(self.config.store.uri) / "media"
        else:
            digest = hashlib.sha1(self.config.store.uri.encode()).hexdigest()[:12]
            root = Path.home() / ".cache" / "vimrag" / "media" / digest
        root.mkdir(parents=True, exist_ok=True)
        return root

    # ------------------------------------------------------------------ ingest
    def add(
        self,
        paths: str | Path | Iterable[str | Path],
        *,
        progress: bool | ProgressCallback = True,
    ) -> IngestReport:
        """Ingest files and folders (recursively). Idempotent: unchanged files are skipped by content hash,
        changed files replace their items atomically. A bad file is reported and skipped; nothing stored is lost.
        """
        from vimrag.ingest.discover import discover

        if isinstance(paths, (str, Path)):
            paths = [paths]
        files = discover([Path(p) for p in paths], exclude=[Path(self.config.store.uri)])
        report = IngestReport()
        known = self.store.sources()
        pending = _PendingWrites(self.store)
        with _Progress(progress, total=len(files)) as bar:
            for path in files:
                bar.update(path.name)
                report.files.append(self._add_file(path, known, pending))
                pending.flush_if_due()
        pending.flush()
        return report

    def _add_file(self, path: Path, known: dict[str, Any], pending: _PendingWrites) -> FileOutcome:
        from vimrag.ingest.hashing import file_sha256
        from vimrag.ingest.registry import loader_for
        from vimrag.polar.build import build_items
        from vimrag.store.base import SourceRecord

        source = str(path.resolve())
        try:
            digest = file_sha256(path)
            previous = known.get(source)
            if previous is not None and previous.source_hash == digest:
                return FileOutcome(source, "unchanged", previous.n_items)
            loader = loader_for(path)
            raw = list(loader.load(path, self.config.ingest))
            if not raw:
                raise IngestError(source, "no content could be extracted")
            items = build_items(
                raw,
                source=source,
                source_hash=digest,
                perceiver=self.perceiver,
                embedder=self.embedder,
                entity_extractor=self.entity_extractor,
                config=self.config,
                cache=self.store,
            )
            self._save_media(raw, items)
            pending.add(SourceRecord(source, digest, len(items), {"loader": loader.name}), items)
            return FileOutcome(source, "replaced" if previous is not None else "added", len(items))
        except IngestError as exc:
            return FileOutcome(source, "failed", reason=exc.reason)
        except (ModelUnavailableError, MissingExtraError) as exc:
            # A model (or its runtime) this file needs cannot load: the file fails with the reason, and
            # files that do not need that model (text next to photos) still go in.
            return FileOutcome(source, "failed", reason=str(exc))
        except VimragError:
            raise  # a dead server or an unusable store is not a per-file problem: stop and say so
        except OSError as exc:
            return FileOutcome(source, "failed", reason=f"{type(exc).__name__}: {exc}")

    def _save_media(self, raw: Sequence[Any], items: Sequence[Item]) -> None:
        """Store a bounded thumbnail of each visual item (and video keyframes) for citations and the agent."""
        px = self.config.ingest.thumb_px
        for r, item in zip(raw, items, strict=True):
            if r.image is None:
                continue
            name = f"{item.id}.jpg"
            _save_thumb(r.image, self.media_root / name, px)
            item.media = name
            frames = []
            for t, frame in r.frames:
                fname = f"{item.id}_{t:.2f}.jpg"
                _save_thumb(frame, self.media_root / fname, px)
                frames.append({"t": t, "media": fname})
            if frames:
                item.meta["keyframe_media"] = frames

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
            (mine if item.source == key else others).update(_media_names(item))
        n = self.store.remove_source(key)
        for name in mine - others:
            (self.media_root / name).unlink(missing_ok=True)
        return n

    # ------------------------------------------------------------------ read
    @cached_property
    def retriever(self) -> Any:
        from vimrag.polar.retrieval import PolarRetriever

        return PolarRetriever(self.store, self.embedder, self.config, llm=None)

    def search(self, query: str, k: int = 10, strict: bool = False) -> SearchResult:
        """Logic-aware retrieval (PolarMem Algorithm 1): verified before neutral before conflicting.

        ``strict=True`` returns only items verified to satisfy the query (wanted concept HAS, every unwanted
        concept NOT_HAS), possibly fewer than ``k``: for "A but no B" when a wrong item costs more than a
        missing one.
        """
        return self.retriever.search(query, k, strict=strict)

    def get(self, ids: Sequence[str]) -> list[Item]:
        return self.store.get(list(ids))

    def load_image(self, item: Item) -> Image.Image | None:
        if not item.media:
            return None
        path = self.media_root / item.media
        if not path.is_file():
            return None
        with Image.open(path) as im:
            return im.convert("RGB")

    def sources(self) -> dict[str, Any]:
        return self.store.sources()

    def stats(self) -> dict[str, Any]:
        srcs = self.store.sources()
        return {"store": self.config.store.uri, "sources": len(srcs), "items": self.store.count(),
                "concepts": len(self.store.vocabulary())}

    def close(self) -> None:
        """Close the store and free the LLM this Memory loaded (one passed in stays the caller's)."""
        if "store" in self.__dict__:
            self.store.close()
        if self._owns_llm and self._llm is not None:
            close = getattr(self._llm, "close", None)
            if callable(close):
                close()
            self._llm, self._owns_llm = None, False

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _media_names(item: Item) -> list[str]:
    names = [f["media"] for f in item.meta.get("keyframe_media", [])]
    return [item.media, *names] if item.media else names


def _save_thumb(img: Image.Image, path: Path, px: int) -> None:
    im = img.convert("RGB")
    im.thumbnail((px, px))
    tmp = path.with_suffix(".tmp")
    im.save(tmp, "JPEG", quality=85)
    tmp.replace(path)


class _PendingWrites:
    """Buffers finished files and writes them with one store commit per batch.

    Each file stays atomic (the store replaces every source of a batch atomically); batching only saves
    commits, which dominate when a corpus has thousands of small files. A batch is written when it is large
    or a few seconds old, so a killed ingest loses at most those seconds of work and a re-run resumes from
    the files already committed.
    """

    def __init__(self, store: Any, max_items: int = 512, max_files: int = 128, max_age_s: float = 5.0) -> None:
        self._store = store
        self._batch: list[tuple[Any, Sequence[Item]]] = []
        self._items = 0
        self._since = time.monotonic()
        self._limits = (max_items, max_files, max_age_s)

    def add(self, record: Any, items: Sequence[Item]) -> None:
        if not self._batch:
            self._since = time.monotonic()
        self._batch.append((record, items))
        self._items += len(items)

    def flush_if_due(self) -> None:
        max_items, max_files, max_age_s = self._limits
        if self._items >= max_items or len(self._batch) >= max_files or (
            self._batch and time.monotonic() - self._since >= max_age_s
        ):
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        if len(self._batch) == 1:
            for record, items in self._batch:
                self._store.replace_source(record, items)
        else:
            self._store.replace_many(self._batch)
        self._batch, self._items = [], 0


class _Progress:
    """A rich progress bar on stderr, or a user callback, or nothing."""

    def __init__(self, progress: bool | ProgressCallback, total: int) -> None:
        self._cb = progress if callable(progress) else None
        self._enabled = progress is True
        self._total = total
        self._done = 0
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if self._enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.description}"), console=Console(stderr=True), transient=False,
                disable=not sys.stderr.isatty() and self._total < 2,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=self._total)
        return self

    def update(self, name: str) -> None:
        if self._bar is not None:
            if self._done:
                self._bar.advance(self._task)
            self._bar.update(self._task, description=name)
        if self._cb is not None:
            self._cb(name, self._done, self._total)
        self._done += 1

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self._total, description="done")
            self._bar.__exit__(None, None, None)
