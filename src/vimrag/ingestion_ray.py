"""Distributed ingestion on Ray Data (``vimrag ingest --engine ray``, ``Memory.add(engine="ray")``; issue 17).

Perception is the heavy part of ingest (0.7 s a photo or keyframe with the embedded perceiver, seconds with
a VLM server), so it is what spreads over a cluster. We write no scheduler: Ray Data runs the work.

* **On the driver** (this process): discovery, content hashes and the decision per file
  (:func:`vimrag.ingestion.plan_file`: unchanged files are skipped, files of another embedder re-embedded
  from the store) — cheap, and it needs the store.
* **In Ray workers**, two ``map_batches`` stages of actors, each actor loading its models once, each stage
  with its own resources:

  1. *perceive* — :func:`vimrag.ingestion.prepare_file` without z_sem: decode, perceive (detector, OCR,
     speech, or calls to a VLM server), entities, thumbnails; ``ingest.ray_workers`` actors of
     ``ray_cpus_per_worker`` CPUs and ``ray_gpus_per_worker`` GPUs (0 workers: as many as the CPUs allow);
  2. *embed* — :func:`vimrag.ingestion.embed_prepared`: the text embedder over the file's items;
     ``ray_embed_workers`` actors of ``ray_embed_cpus_per_worker`` CPUs and ``ray_embed_gpus_per_worker``
     GPUs (an embedder on a GPU node while perception runs on CPU nodes or against a VLM server).

  Decoding stays with perception on purpose: split there, decoded pages and frames (megabytes each) would
  travel between processes; what goes from *perceive* to *embed* is the items' text and the thumbnails.
* **One writer** (the driver) commits what comes back in the store's usual batches (``PendingWrites``),
  so every guarantee of the local engine holds: idempotent by content hash, a changed file replaces its
  items atomically, a killed job leaves the committed batches consistent and a re-run resumes, a bad file
  is reported on its own and the job completes. A worker that dies is restarted by Ray and its file
  retried (actor restarts, task retries); only an error that is not a file's (a dead model server) stops
  the job, with the reason. Limit: a file that kills its worker *process* every time (a crash inside a
  native decoder, not a Python error — those fail the file) is retried without end; interrupt the job and
  remove the file (Ray 2.60 bounds retries only through arguments it deprecates).

The workers need vimrag and its models where they run: on a local Ray (the default, ``ray.init`` with
this machine's CPUs) that is this environment; on a cluster (``--ray-address``), install the same
``vimrag[local]`` on its nodes (or pass a ``runtime_env``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from vimrag._extras import require
from vimrag.config import Config
from vimrag.ingestion import (
    FileWork,
    IngestParts,
    IngestReport,
    Prepared,
    embed_prepared,
    ingest_files,
    prepare_file,
)
from vimrag.models.base import Perceiver, TextEmbedder
from vimrag.progress import ProgressCallback


class _WorkerModels:
    """The models a worker's files need (:class:`vimrag.ingestion.IngestModels`), built from the config on
    first use, as ``Memory`` builds them — without a store, which only the writer opens."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._parts: dict[str, Any] = {}

    def _part(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._parts:
            self._parts[name] = make()
        return self._parts[name]

    @property
    def perceiver(self) -> Perceiver:
        from vimrag.models.perceivers import make_perceiver

        return cast("Perceiver", self._part("perceiver", lambda: make_perceiver(self.config)))

    @property
    def embedder(self) -> TextEmbedder:
        from vimrag.models.factory import make_embedder

        models = self.config.models
        return cast("TextEmbedder", self._part("embedder", lambda: make_embedder(models.embedder, models)))

    @property
    def embedder_name(self) -> str:
        return self.config.models.embedder

    @property
    def entity_extractor(self) -> Any:
        from vimrag.polar.entities import EntityExtractor

        return self._part("entities", EntityExtractor)


class _Perceive:
    """A Ray actor of the *perceive* stage: its models load on its first file and serve the next ones."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.models = _WorkerModels(config)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = []
        for blob in batch["work"]:
            work: FileWork = pickle.loads(blob)
            out.append(pickle.dumps(prepare_file(self.config, self.models, work, embed=False)))
        return {"prepared": out}


class _Embed:
    """A Ray actor of the *embed* stage: z_sem for the items the *perceive* stage made."""

    def __init__(self, config: Config) -> None:
        self.models = _WorkerModels(config)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = []
        for blob in batch["prepared"]:
            prepared: Prepared = pickle.loads(blob)
            out.append(pickle.dumps(embed_prepared(prepared, self.models.embedder)))
        return {"prepared": out}


def ingest_files_ray(parts: IngestParts, files: Sequence[Path], progress: bool | ProgressCallback) -> IngestReport:
    """Ingest ``files`` with the decode → perceive → embed work on Ray; the loop, the plan and the commits
    are the local engine's (:func:`vimrag.ingestion.ingest_files`)."""
    ray = require("ray", "ray", "ray[data]")

    def on_ray(works: Iterator[FileWork]) -> Iterator[Prepared]:
        todo = list(works)  # planned on the driver first: hashes, skips and re-embeds need the store
        if todo:
            _init(ray, parts.config)
            yield from _prepared(ray, parts.config, todo)

    return ingest_files(parts, files, progress, on_ray, label="ingest (ray)")


def _embed_cpus(config: Config) -> float:
    """The CPUs the *embed* stage holds (its actors run for the whole job)."""
    cfg = config.ingest
    return cfg.ray_embed_workers * float(cfg.ray_embed_cpus_per_worker)


def _init(ray: Any, config: Config) -> None:
    """Join the cluster at ``ingest.ray_address``, or start a local Ray sized for both stages: the
    *perceive* workers (``ray_workers`` × their CPUs, or all of this machine's) plus the *embed* stage."""
    import math
    import os

    if ray.is_initialized():
        return
    cfg = config.ingest
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "ignore_reinit_error": True, "configure_logging": False}
    if cfg.ray_address:
        ray.init(address=cfg.ray_address, **kwargs)
        return
    perceive = cfg.ray_workers * cfg.ray_cpus_per_worker if cfg.ray_workers else float(os.cpu_count() or 1)
    # logical CPUs: the embedder is light next to perception, so its share is added, not carved out
    ray.init(num_cpus=max(1, math.ceil(perceive + _embed_cpus(config) - 1e-9)), **kwargs)


def _prepared(ray: Any, config: Config, todo: list[FileWork]) -> Iterator[Prepared]:
    """The prepared files as the *embed* stage finishes them (in any order: each carries its own file)."""
    cfg = config.ingest
    n_cpus = float(ray.cluster_resources().get("CPU", 1))
    per = max(0.01, float(cfg.ray_cpus_per_worker))
    workers = cfg.ray_workers or max(1, int((n_cpus - _embed_cpus(config)) // per))
    ds = ray.data.from_items([{"work": pickle.dumps(w)} for w in todo], override_num_blocks=len(todo))
    # Ray Data's actor pools restart a dead worker and retry its file (max_restarts / max_task_retries -1
    # by default; setting them goes through arguments Ray 2.60 deprecates)
    ds = ds.map_batches(_Perceive, fn_constructor_args=(config,), batch_size=1, concurrency=min(workers, len(todo)),
                        num_cpus=per, **_gpus(cfg.ray_gpus_per_worker))
    ds = ds.map_batches(_Embed, fn_constructor_args=(config,), batch_size=1,
                        concurrency=min(cfg.ray_embed_workers, len(todo)),
                        num_cpus=float(cfg.ray_embed_cpus_per_worker), **_gpus(cfg.ray_embed_gpus_per_worker))
    for row in ds.iter_rows():
        prepared = pickle.loads(row["prepared"])
        assert isinstance(prepared, Prepared)
        yield prepared



def _gpus(n: float) -> dict[str, float]:
    return {"num_gpus": float(n)} if n else {}
