"""The service behind ``vimrag serve`` and ``vimrag mcp``: the memory, the agent and the ingest writer,
shared by every request and free of any web framework (the REST routes and the MCP tools are thin).

Concurrency, and why:

* **Searches run concurrently** on one reader :class:`~vimrag.Memory`; its store searches under its own
  lock and sees the writer's commits within a second.
* **Writes go through one writer thread** (:class:`~vimrag.server.jobs.Writer`) with its own ``Memory``
  (its own store connection, so a PostgreSQL transaction of the writer never mixes with a search).
* **One question at a time holds the model**; up to ``server.ask_queue`` more wait, and beyond that a
  question is refused at once (:class:`Busy` → HTTP 429 with ``Retry-After``), so a burst of questions
  cannot pile up unbounded behind a 1.5B model on two cores.
* Both memories share one embedder (:class:`~vimrag.memory.SharedEmbedder`, serialised); the LLM is
  loaded on the first question, not at start, so the server answers ``/health`` at once.
* **Workspaces per request**: every call may name a workspace (an isolated corpus of the store, issue 17);
  each one opened gets its own reader and writer memory (its own tables or schema) on the same embedder,
  model, question line and writer thread, up to ``server.max_workspaces`` open at once. Reading a
  workspace that does not exist is a 404 (it is not created by a search); an ingest creates it.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vimrag.config import Config
from vimrag.errors import VimragError
from vimrag.memory import Memory, SharedEmbedder
from vimrag.server.jobs import Job, Writer
from vimrag.server.paths import Forbidden, confine, resolve_roots, safe_filename, trajectory_file
from vimrag.store.factory import workspaces
from vimrag.store.media import shown_media
from vimrag.types import Item

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_log = logging.getLogger(__name__)


class Busy(VimragError):
    """Too many questions are waiting for the model (HTTP 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the model is busy with earlier questions; retry in about {retry_after} s")
        self.retry_after = retry_after


class NotFound(VimragError):
    """No such item, source, job or trajectory (HTTP 404)."""


class AskGate:
    """One question holds the model; at most ``queue`` wait; more are refused without waiting."""

    def __init__(self, queue: int) -> None:
        self._model = threading.Lock()
        self._count = threading.Lock()
        self._inside = 0
        self._limit = 1 + max(0, queue)

    @property
    def waiting(self) -> int:
        return max(0, self._inside - 1)

    def enter(self) -> None:
        """Take a place in the line, or raise :class:`Busy` (call before any slow work)."""
        with self._count:
            if self._inside >= self._limit:
                raise Busy(0)
            self._inside += 1

    def leave(self) -> None:
        with self._count:
            self._inside -= 1

    @contextmanager
    def model(self) -> Iterator[None]:
        """Hold the model (after :meth:`enter`); the place in the line is given back on exit."""
        try:
            with self._model:
                yield
        finally:
            self.leave()


def check_bind(host: str, token: str) -> None:
    """Refuse to listen beyond this machine without a token: the API reads files and runs a model."""
    if host not in LOOPBACK and not token:
        raise VimragError(f"refusing to listen on {host} without a token: set --token, VIMRAG_TOKEN or "
                          "[server] token (or use --host 127.0.0.1)")


def check_port(host: str, port: int) -> None:
    """Fail with one line when the address is taken (uvicorn would log a traceback-like error and exit 1)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise VimragError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (use --port)") from None


@dataclass(frozen=True)
class Workspace:
    """One corpus the server serves: a reader memory for searches and questions, a writer memory for the
    writer thread (its own store connection, so a writer's transaction never mixes with a search)."""

    name: str
    memory: Memory
    writer_memory: Memory

    def close(self) -> None:
        self.writer_memory.close()
        self.memory.close()


class Service:
    """Search, ask, ingest, remove, sources, media and trajectories over one store and its workspaces."""

    def __init__(self, config: Config, *, llm: Any = None) -> None:
        self.config = config
        s = config.server
        self.roots = resolve_roots(s.ingest_roots)
        self._models = Memory(config)  # holds the one embedder (loaded on first use); opens no store
        self._embedder = SharedEmbedder(self._models)
        self._llm = llm
        self._llm_lock = threading.Lock()
        self._spaces: dict[str, Workspace] = {}
        self._spaces_lock = threading.Lock()
        default = self.workspace(None, create=True)
        self.memory = default.memory  # the configured workspace's (store.workspace)
        self.writer_memory = default.writer_memory
        self.writer = Writer(s.max_jobs_kept)
        self.gate = AskGate(s.ask_queue)

    def workspace(self, name: str | None, *, create: bool = False) -> Workspace:
        """The open workspace ``name`` (``None``: the configured one), opened on first use. A workspace that
        does not exist in the store is :class:`NotFound` unless ``create`` (an ingest makes it)."""
        name = self.config.store.workspace if name is None else name
        with self._spaces_lock:
            if name in self._spaces:
                return self._spaces[name]
            cfg = self.config.with_overrides({"store.workspace": name})  # checks the name (ConfigError)
            if not create and name != self.config.store.workspace and name not in workspaces(cfg):
                raise NotFound(f"no workspace {name!r} in this store (ingest into it to create it)")
            if len(self._spaces) >= max(1, self.config.server.max_workspaces):
                raise VimragError(f"this server already has {len(self._spaces)} workspaces open "
                                  "(server.max_workspaces)")
            # one model for every workspace: a search that parses queries with it (polar.query_parser =
            # "llm") must not load a second copy in another workspace's memory
            llm = self.llm if self._spaces and self.config.polar.query_parser == "llm" else self._llm
            space = Workspace(name, Memory(cfg, embedder=self._embedder, llm=llm), Memory(cfg, embedder=self._embedder))
            self._spaces[name] = space
            return space

    def workspaces(self) -> list[str]:
        """The workspaces of the store, plus any this server opened that hold nothing yet."""
        with self._spaces_lock:
            opened = list(self._spaces)
        return list(dict.fromkeys([*workspaces(self.config), *opened]))

    def warm_up(self) -> threading.Thread:
        """Load the embedder and the store's index in the background, so the first search is fast while
        ``/health`` answers at once. A failure here is not fatal: the first search reports it."""
        def work() -> None:
            try:
                self.memory.search("warm up", k=1)
            except VimragError as exc:
                _log.warning("warm-up search failed (the first search will say why): %s", exc)

        t = threading.Thread(target=work, name="vimrag-warm-up", daemon=True)
        t.start()
        return t

    # ------------------------------------------------------------------ read
    def health(self) -> dict[str, Any]:
        store = self.memory.store
        return {"status": "ok", "items": int(store.count()), "sources": len(store.sources())}

    def search(self, query: str, k: int = 10, strict: bool = False, workspace: str | None = None) -> dict[str, Any]:
        """``vimrag search --json``, plus a ``media`` URL for each item that has an image, page or frame."""
        if not isinstance(k, int) or not 1 <= k <= 1000:
            raise VimragError(f"k must be between 1 and 1000, got {k!r}")
        result = self.workspace(workspace).memory.search(query, k=k, strict=strict)
        out = result.to_json()
        for key, hits in (("results", result.hits), ("excluded", result.excluded)):
            for js, hit in zip(out[key], hits, strict=True):
                js.update(media_links(hit.item, workspace))
        return out

    def sources(self, workspace: str | None = None) -> list[dict[str, Any]]:
        recs = self.workspace(workspace).memory.sources()
        return [{"source": r.source, "items": r.n_items, "hash": r.source_hash} for r in sorted(
            recs.values(), key=lambda r: r.source)]

    def item(self, item_id: str, workspace: str | None = None) -> Item:
        items = self.workspace(workspace).memory.get([item_id]) if item_id else []
        if not items:
            raise NotFound(f"no item {item_id!r}")
        return items[0]

    def media_bytes(self, item_id: str, frame: int | None = None, workspace: str | None = None) -> bytes:
        """The item's thumbnail (page render, photo) or its ``frame``-th keyframe, as JPEG bytes from the
        store's media (a folder, the database or a bucket)."""
        item = self.item(item_id, workspace)
        if frame is None:
            name = item.media or ""
        else:
            frames = item.meta.get("keyframe_media", [])
            name = frames[frame]["media"] if 0 <= frame < len(frames) else ""
        data = self.workspace(workspace).memory.media.read(name)
        if data is None:
            raise NotFound(f"item {item_id!r} has no such media")
        return data

    def trajectory(self, trajectory_id: str) -> Path:
        path = trajectory_file(Path(self.config.agent.trajectories_dir), trajectory_id)
        if path is None:
            raise NotFound(f"no trajectory {trajectory_id!r}")
        return path

    # ------------------------------------------------------------------ ask
    @property
    def llm(self) -> Any:
        with self._llm_lock:
            if self._llm is None:
                self._llm = self.memory.llm
            return self._llm

    def ask(self, question: str, method: str | None = None,
            on_step: Callable[[str, dict[str, Any]], None] | None = None, *, entered: bool = False,
            workspace: str | None = None) -> dict[str, Any]:
        """``vimrag ask --json`` plus the trajectory id, citations with media links and the answer node.

        ``entered``: the caller already took a place in line (:meth:`AskGate.enter`) so that a refusal
        could be answered before streaming began (and must be given back here if the question is refused).
        """
        from vimrag.agent.methods import METHODS
        from vimrag.ask import Agent

        if not entered:
            self.enter_line()
        try:
            if method is not None and method not in METHODS:
                raise VimragError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
            if not isinstance(question, str) or not question.strip():
                raise VimragError("the question is empty")
            memory = self.workspace(workspace).memory
        except VimragError:
            self.gate.leave()
            raise
        listener = None if on_step is None else self._with_media(on_step, memory, workspace)
        with self.gate.model():
            result = Agent(memory, self.config, llm=self.llm).ask(question, method=method, on_step=listener)
        out = result.to_json()
        ids = [c.get("id") for c in result.citations]
        items = {i.id: i for i in memory.get([i for i in ids if i])}
        for js, iid in zip(out["citations"], ids, strict=True):
            if iid in items:
                js.update(media_links(items[iid], workspace))
        out["trajectory_id"] = Path(out["trajectory"]).stem if out["trajectory"] else None
        out["answer_node"] = result.record.answer_node
        return out

    def _with_media(self, on_step: Callable[[str, dict[str, Any]], None], memory: Memory,
                    workspace: str | None) -> Callable[[str, dict[str, Any]], None]:
        """The listener, told each step with media links on the node's evidence (for thumbnails)."""
        def listener(kind: str, payload: dict[str, Any]) -> None:
            bank = (payload.get("node") or {}).get("bank") or []
            items = {i.id: i for i in memory.get([e["item_id"] for e in bank])} if bank else {}
            for e in bank:
                if e["item_id"] in items:
                    e.update(media_links(items[e["item_id"]], workspace))
            on_step(kind, payload)

        return listener

    def enter_line(self) -> None:
        try:
            self.gate.enter()
        except Busy:
            raise Busy(self.config.server.retry_after_s) from None

    # ------------------------------------------------------------------ write
    def ingest_paths(self, paths: Sequence[str], workspace: str | None = None) -> Job:
        """Queue an ingest of paths that lie under ``server.ingest_roots`` (:class:`Forbidden` otherwise)."""
        if not paths or not all(isinstance(p, str) for p in paths):
            raise VimragError('"paths" must be a non-empty list of strings')
        real = [confine(p, self.roots) for p in paths]
        space = self.workspace(workspace, create=True)
        return self.writer.submit_job([str(p) for p in real], lambda job: self._run_ingest(job, real, space))

    def upload_dir(self) -> Path:
        d = self.config.server.upload_dir
        if d:
            return Path(d)
        from vimrag.store.factory import media_dir

        return media_dir(self.config).parent / "uploads"

    def ingest_uploads(self, files: Sequence[tuple[str | None, Any]], workspace: str | None = None) -> Job:
        """Save uploaded ``(name, binary file)`` pairs under the upload folder, then queue their ingest.

        Each upload lands in its own folder (named by the job), so two uploads of ``report.pdf`` never
        overwrite each other and a file's source path says where it came from.
        """
        if not files:
            raise VimragError("no files in the upload")
        space = self.workspace(workspace, create=True)
        import uuid

        folder = self.upload_dir() / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        for name, fh in files:
            target = folder / safe_filename(name)
            n = 1
            while target.exists():
                target = folder / f"{n}-{safe_filename(name)}"
                n += 1
            with target.open("wb") as out:
                shutil.copyfileobj(fh, out, 1 << 20)
            saved.append(target)
        return self.writer.submit_job([str(p) for p in saved], lambda job: self._run_ingest(job, saved, space))

    def _run_ingest(self, job: Job, paths: Sequence[Path], space: Workspace) -> dict[str, Any]:
        def progress(name: str, done: int, total: int) -> None:
            job.current, job.done, job.total = name, done, total

        try:
            report = space.writer_memory.add(list(paths), progress=progress)
        finally:
            _reader_sees_writes(space)
        job.done = job.total
        job.current = ""
        return report.to_json() | {"store": space.writer_memory.stats()}

    def remove(self, source: str, workspace: str | None = None) -> int:
        """Forget a source the memory holds (exactly as listed by :meth:`sources`); waits for the writer."""
        space = self.workspace(workspace)
        if not isinstance(source, str) or source not in space.memory.sources():
            raise NotFound(f"no such source in memory: {source!r}")
        n = self.writer.call(lambda: space.writer_memory.remove(source)).result()
        _reader_sees_writes(space)
        return int(n)

    def close(self) -> None:
        self.writer.close(wait=True)
        with self._spaces_lock:
            for space in self._spaces.values():
                space.close()
            self._spaces.clear()
        self._models.close()


def _reader_sees_writes(space: Workspace) -> None:
    """After a write: an embedded store's reader picks up the commit now, not within the second."""
    refresh = getattr(space.memory.store, "refresh", None)
    if callable(refresh):
        refresh()


def media_links(item: Item, workspace: str | None = None) -> dict[str, Any]:
    """URLs of the media an item has (its image / page render, its keyframes with their times); with a
    ``workspace``, the URLs name it (the item lives there, not in the server's default workspace)."""
    out: dict[str, Any] = {}
    ws = f"workspace={workspace}" if workspace else ""
    shown = shown_media(item)  # a table's page: the locator's box marks the region on it
    if shown:
        out["media"] = f"/media/{item.id if item.media else shown.removesuffix('.jpg')}" + (f"?{ws}" if ws else "")
    frames = item.meta.get("keyframe_media", [])
    if frames:
        out["keyframes"] = [{"t": f["t"], "media": f"/media/{item.id}?frame={i}" + (f"&{ws}" if ws else "")}
                            for i, f in enumerate(frames)]
    return out


__all__ = ["Busy", "Forbidden", "NotFound", "Service", "Workspace", "check_bind", "check_port", "media_links"]
