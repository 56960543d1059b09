"""Ingest jobs: queued, run one at a time by the server's single writer, watched through ``GET /jobs/ID``.

One writer, because every store serialises writers anyway (LanceDB's file lock, PostgreSQL's advisory
locks): a second thread would only wait. Finished jobs are remembered up to ``server.max_jobs_kept``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

JOB_STATES = ("queued", "running", "done", "failed")


@dataclass
class Job:
    """One ``POST /ingest``: its files, its progress, and at the end ``vimrag ingest --json``'s report."""

    id: str
    paths: list[str]
    state: str = "queued"
    done: int = 0
    total: int = 0
    current: str = ""
    report: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.id, "state": self.state, "paths": list(self.paths),
            "progress": {"done": self.done, "total": self.total, "current": self.current},
            "report": self.report, "error": self.error, "created": self.created, "finished": self.finished,
        }


class Writer:
    """The single writer thread: ingest jobs and removals, in the order they were asked for."""

    def __init__(self, keep: int = 100) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vimrag-writer")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = max(1, keep)

    def submit_job(self, paths: list[str], run: Callable[[Job], dict[str, Any]]) -> Job:
        """Queue ``run(job)`` (which returns the report); the job records its outcome either way."""
        job = Job(uuid.uuid4().hex[:12], paths)
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()

        def work() -> None:
            job.state = "running"
            try:
                job.report = run(job)
                job.state = "failed" if job.report.get("stopped") else "done"
                job.error = job.report.get("stopped")
            except Exception as exc:  # the job's outcome is its error, reported at GET /jobs/ID
                job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            finally:
                job.finished = time.time()

        self._pool.submit(work)
        return job

    def call(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` on the writer thread after the jobs queued before it (e.g. a removal)."""
        return self._pool.submit(fn)

    def job(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished is not None]
        for j in finished[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[j.id]

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
