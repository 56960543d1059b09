"""The ingest pipeline behind ``Memory.add``: files → loaders → perception and graph → batched store writes.

Per-file idempotency by content hash (an unchanged file is skipped, a changed one replaces its items
atomically), per-file error isolation (a corrupt file, or one that needs a model that cannot load, is
reported with its reason and the batch goes on), and batched commits (each file stays atomic; a killed
ingest loses at most one batch, and a re-run resumes from what was committed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vimrag.config import Config
from vimrag.errors import IngestError, MissingExtraError, ModelUnavailableError, StoreError
from vimrag.models.base import Perceiver, TextEmbedder
from vimrag.models.chart_reading import CHART_READING_VERSION
from vimrag.progress import ProgressBar, ProgressCallback
from vimrag.store.base import SourceRecord, VectorStore
from vimrag.store.media import MediaBase
from vimrag.types import Item


@dataclass
class FileOutcome:
    path: str
    status: str  # "added" | "replaced" | "unchanged" | "failed" | "skipped" (not read: see reason)
    items: int = 0
    reason: str = ""


def display_path(path: str) -> str:
    """A path as text that can always be printed and stored: undecodable bytes of a file name (which
    Python keeps as surrogates) are shown as ``\\xNN`` escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass
class IngestReport:
    """What ``Memory.add`` did, file by file. Failures are reported, never raised for a batch."""

    files: list[FileOutcome] = field(default_factory=list)
    stopped: str = ""  # why the run stopped before the end (e.g. the store could not be written)

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
    def skipped(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "skipped"]

    @property
    def items(self) -> int:
        return sum(f.items for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "skipped": [{"path": f.path, "reason": f.reason} for f in self.skipped],
            "items": self.items,
            "stopped": self.stopped or None,
            "files": [f.__dict__ for f in self.files],
        }


class IngestModels(Protocol):
    """The models a changed file needs (``Memory`` satisfies it). Read per file, only after the content
    hash says the file changed: re-ingesting an unchanged folder loads no model."""

    @property
    def perceiver(self) -> Perceiver: ...

    @property
    def embedder(self) -> TextEmbedder: ...

    @property
    def embedder_name(self) -> str:
        """The embedder's name, known without loading it (the vectors' provenance, per source)."""
        ...

    @property
    def entity_extractor(self) -> Any: ...


@dataclass
class IngestParts:
    """What the pipeline works with: config, store and media now, the models when a file needs them."""

    config: Config
    store: VectorStore
    media: MediaBase
    models: IngestModels


#: How an engine reads, perceives and embeds the files that need it: FileWork in, Prepared out (any order).
PrepareAll = Callable[[Iterator["FileWork"]], Iterator["Prepared"]]


def ingest_files(parts: IngestParts, files: Sequence[Path], progress: bool | ProgressCallback,
                 prepare_all: PrepareAll | None = None, label: str = "ingest") -> IngestReport:
    """Ingest ``files`` (already discovered) into the store, one outcome per file.

    Every engine runs this loop: files are planned here (hash, skip, re-embed: :func:`plan_file`), the ones
    that must be read go to ``prepare_all`` — by default one by one in this process, as they are planned;
    the Ray engine hands them to its workers (``vimrag.ingestion_ray``) — and what comes back is committed
    here in batches (:func:`commit_prepared`)."""
    report = IngestReport()
    known = parts.store.sources()
    cfg = parts.config.ingest
    pending = PendingWrites(parts.store, cfg.write_batch_items, cfg.write_batch_files, cfg.write_batch_s)
    prepare = prepare_all or (lambda works: (prepare_file(parts.config, parts.models, w, parts.store) for w in works))
    try:
        with ProgressBar(label, progress, total=len(files)) as bar:

            def planned() -> Iterator[FileWork]:
                for path in files:
                    bar.start(path.name)
                    work = plan_file(parts, path, known, pending)
                    if isinstance(work, FileWork):
                        yield work
                    else:
                        _done(report, work, pending, bar)

            for prepared in prepare(planned()):
                _done(report, commit_prepared(parts, prepared, pending), pending, bar)
        pending.flush()
    except StoreError as exc:
        # The store cannot take more (disk full, read-only): the files of the unwritten batch fail with the
        # reason, the report is still returned (what was committed before stays), and the run stops.
        unwritten = {record.source for record, _ in pending.take()}
        for outcome in report.files:
            if outcome.path in unwritten:
                outcome.status, outcome.items, outcome.reason = "failed", 0, f"not written: {exc}"
        report.stopped = str(exc)
    return report


def _done(report: IngestReport, outcome: FileOutcome, pending: PendingWrites, bar: ProgressBar) -> None:
    report.files.append(outcome)
    pending.flush_if_due()
    bar.advance()


@dataclass(frozen=True)
class FileWork:
    """A file that must be read, perceived and embedded (its content is new or changed)."""

    path: Path
    source: str
    digest: str
    replacing: bool  # the store holds an older version of it
    perceived_by: str
    embedded_by: dict[str, Any]


@dataclass
class Prepared:
    """A file read, perceived and embedded, ready to commit: its items, its media (JPEG bytes by name) and
    its source record's meta — or the outcome that says why it failed. Picklable: an ingest worker
    (``vimrag.ingestion_ray``) makes it and the writer commits it."""

    work: FileWork
    items: list[Item] = field(default_factory=list)
    media: list[tuple[str, bytes]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    failed: FileOutcome | None = None


def plan_file(parts: IngestParts, path: Path, known: dict[str, Any], pending: PendingWrites) -> FileOutcome | FileWork:
    """What a file needs, decided without reading it: nothing (unchanged), its stored items embedded again
    (another embedder; done here, no file read), or a full read (:class:`FileWork`); or why it fails."""
    from vimrag.ingest.hashing import file_sha256
    from vimrag.polar.build import EMBED_FORMAT, embed_items, perception_fingerprint

    source = str(path.resolve())
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        # The stores keep paths as UTF-8 text; a name with undecodable bytes fails alone, never its batch.
        return FileOutcome(display_path(source), "failed",
                           reason="the file name is not valid UTF-8; rename the file to ingest it")
    try:
        digest = file_sha256(path)
        previous = known.get(source)
        perceived_by = perception_fingerprint(parts.config)
        embedded_by = {"embed_format": EMBED_FORMAT, "embedder": parts.models.embedder_name}
        if previous is not None and previous.source_hash == digest and not _stale_perception(previous, perceived_by):
            if _embedded_by(previous) == embedded_by:
                return FileOutcome(source, "unchanged", previous.n_items)
            # vectors of an older z_sem layout or of another embedder: embed the stored items again (no
            # file read, no perception), so a query's vector and the stored ones come from one model
            items = parts.store.items_of(source)
            embed_items(items, parts.models.embedder)
            pending.add(SourceRecord(source, digest, len(items), {**previous.meta, **embedded_by}), items)
            return FileOutcome(source, "replaced", len(items))
        return FileWork(path, source, digest, previous is not None, perceived_by, embedded_by)
    except (ModelUnavailableError, MissingExtraError) as exc:
        return FileOutcome(source, "failed", reason=str(exc))
    except OSError as exc:
        return FileOutcome(source, "failed", reason=f"{type(exc).__name__}: {exc}")


def prepare_file(config: Config, models: IngestModels, work: FileWork, cache: Any = None,
                 embed: bool = True) -> Prepared:
    """Read, perceive and embed one file (the heavy part; runs in an ingest worker under Ray). A bad file
    comes back as a failed outcome with its reason; a dead server or a broken store still raises.
    ``embed=False`` stops before z_sem (:func:`embed_prepared` then embeds it, in another stage)."""
    from vimrag.ingest.registry import loader_for
    from vimrag.polar.build import build_items
    from vimrag.store.media import encode_media

    try:
        loader = loader_for(work.path)
        raw = list(loader.load(work.path, config.ingest))
        if not raw:
            raise IngestError(work.source, "no content could be extracted")
        items = build_items(
            raw,
            source=work.source,
            source_hash=work.digest,
            perceiver=models.perceiver,
            embedder=models.embedder if embed else None,
            entity_extractor=models.entity_extractor,
            config=config,
            cache=cache,
        )
        media = encode_media(raw, items, config.ingest.thumb_px, config.ingest.thumb_quality)
        meta: dict[str, Any] = {"loader": loader.name, **work.embedded_by}
        if any(r.image is not None for r in raw):
            meta["perceiver"] = work.perceived_by
        if loader.name in _CHART_LOADERS:
            meta["chart_reading"] = CHART_READING_VERSION
        return Prepared(work, items, media, meta)
    except IngestError as exc:
        return Prepared(work, failed=FileOutcome(work.source, "failed", reason=exc.reason))
    except (ModelUnavailableError, MissingExtraError) as exc:
        # A model (or its runtime) this file needs cannot load: the file fails with the reason, and
        # files that do not need that model (text next to photos) still go in. A dead server or an
        # unusable store (other VimragErrors) is not a per-file problem: it stops the run.
        return Prepared(work, failed=FileOutcome(work.source, "failed", reason=str(exc)))
    except OSError as exc:
        return Prepared(work, failed=FileOutcome(work.source, "failed", reason=f"{type(exc).__name__}: {exc}"))


def embed_prepared(prepared: Prepared, embedder: TextEmbedder) -> Prepared:
    """Set z_sem on a file prepared with ``embed=False``; an embedder that cannot load fails the file."""
    from vimrag.polar.build import embed_items

    if prepared.failed is None:
        try:
            embed_items(prepared.items, embedder)
        except (ModelUnavailableError, MissingExtraError) as exc:
            return Prepared(prepared.work, failed=FileOutcome(prepared.work.source, "failed", reason=str(exc)))
    return prepared


def commit_prepared(parts: IngestParts, prepared: Prepared, pending: PendingWrites) -> FileOutcome:
    """Write a prepared file's media, then queue its items for the next batched commit."""
    if prepared.failed is not None:
        return prepared.failed
    w = prepared.work
    try:
        for name, data in prepared.media:
            parts.media.put(name, data)
    except OSError as exc:  # a media folder that cannot be written fails this file; a store error stops the run
        return FileOutcome(w.source, "failed", reason=f"media not written: {type(exc).__name__}: {exc}")
    pending.add(SourceRecord(w.source, w.digest, len(prepared.items), prepared.meta), prepared.items)
    return FileOutcome(w.source, "replaced" if w.replacing else "added", len(prepared.items))


#: The embedder of sources written before stores recorded it (the default until the ONNX one).
LEGACY_EMBEDDER = "sentence-transformers:all-MiniLM-L6-v2"


def _embedded_by(previous: SourceRecord) -> dict[str, Any]:
    """How a committed source's vectors were made: Eq. 10's input layout and the embedder's name."""
    return {"embed_format": previous.meta.get("embed_format", 1),
            "embedder": previous.meta.get("embedder", LEGACY_EMBEDDER)}


#: Loaders whose files are perceived (images, pages, keyframes, pictures in office files).
_VISUAL_LOADERS = frozenset({"image", "pdf", "video", "docx", "pptx"})


#: Loaders whose files hold charts, whose text gains the charts' values (a PDF's figures through
#: ``models.chart_reading``, a slide's native charts from their data).
_CHART_LOADERS = frozenset({"pdf", "pptx"})


def _stale_perception(previous: SourceRecord, fingerprint: str) -> bool:
    """Whether a committed source's concepts came from other perception settings than ``fingerprint``
    (``perception_fingerprint``): recorded ones differ, or a visual file was written before they were; or its
    charts were read by an older chart reading (one read of each such file after an upgrade)."""
    read_by = previous.meta.get("chart_reading", 0)
    if previous.meta.get("loader") in _CHART_LOADERS and (not isinstance(read_by, int) or read_by < CHART_READING_VERSION):
        return True
    if "perceiver" in previous.meta:
        return previous.meta["perceiver"] != fingerprint
    return "embed_format" not in previous.meta and previous.meta.get("loader") in _VISUAL_LOADERS


class PendingWrites:
    """Buffers finished files and writes them with one store commit per batch.

    Each file stays atomic (the store replaces every source of a batch atomically); batching only saves
    commits, which dominate when a corpus has thousands of small files. A batch is written when it is large
    or a few seconds old, so a killed ingest loses at most those seconds of work and a re-run resumes from
    the files already committed.
    """

    def __init__(self, store: VectorStore, max_items: int = 512, max_files: int = 128, max_age_s: float = 5.0) -> None:
        self._store = store
        self._batch: list[tuple[SourceRecord, Sequence[Item]]] = []
        self._items = 0
        self._since = time.monotonic()
        self._limits = (max_items, max_files, max_age_s)

    def add(self, record: SourceRecord, items: Sequence[Item]) -> None:
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
        self._store.replace_many(self._batch)
        self._batch, self._items = [], 0

    def take(self) -> list[tuple[SourceRecord, Sequence[Item]]]:
        """The unwritten batch, emptied (after a failed flush)."""
        batch, self._batch, self._items = self._batch, [], 0
        return batch
