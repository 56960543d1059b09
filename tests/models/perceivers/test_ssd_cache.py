"""The detector rebuilt for ONNX Runtime, kept on disk: the same scores from the entry, and an entry that is
torn, corrupt or refused is rebuilt instead of failing or being trusted."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vimrag.models.perceivers import ssd_cache
from vimrag.models.perceivers.detector import CocoDetector

COCO = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "coco128-train"


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    path = COCO / "images" / "000000000034.jpg"  # a zebra
    if not path.is_file():
        pytest.skip(f"{COCO} not present (the shared dev data sits beside the checkout)")
    with Image.open(path) as im:
        return im.convert("RGB")


def _entry(folder: Path) -> tuple[Path, Path]:
    onnx, meta = sorted(folder.glob("*.onnx")), sorted(folder.glob("*.json"))
    assert len(onnx) == 1 and len(meta) == 1, (onnx, meta)
    return onnx[0], meta[0]


@pytest.mark.slow
def test_cached_model_gives_the_built_models_scores(tmp_path: Path, photo: Image.Image) -> None:
    built = CocoDetector(cache=False).detect(photo)
    first = CocoDetector(cache=tmp_path).detect(photo)  # builds and keeps the entry
    onnx, meta = _entry(tmp_path)
    assert onnx.stat().st_size > 10_000_000 and not list(tmp_path.glob("*.tmp"))
    stamp = onnx.stat().st_mtime_ns
    again = CocoDetector(cache=tmp_path).detect(photo)  # reads it back
    assert onnx.stat().st_mtime_ns == stamp  # not rewritten
    for out in (first, again):
        np.testing.assert_allclose(out.scores, built.scores, atol=1e-6)
        assert [(d.concept, d.box) for d in out.detections] == [(d.concept, d.box) for d in built.detections]


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "garbage", "sidecar"])
def test_damaged_entry_is_rebuilt(tmp_path: Path, photo: Image.Image, damage: str,
                                  caplog: pytest.LogCaptureFixture) -> None:
    want = CocoDetector(cache=tmp_path).detect(photo).scores
    onnx, meta = _entry(tmp_path)
    size = onnx.stat().st_size
    if damage == "truncated":  # a killed writer's graph under the final name
        onnx.write_bytes(onnx.read_bytes()[: size // 2])
    elif damage == "garbage":  # same size, not a graph: only ONNX Runtime can tell
        onnx.write_bytes(b"\0" * size)
    else:
        meta.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="vimrag.models.perceivers.ssd_cache"):
        out = CocoDetector(cache=tmp_path).detect(photo)
    np.testing.assert_allclose(out.scores, want, atol=1e-6)
    assert "building the model again" in caplog.text
    onnx, _ = _entry(tmp_path)
    assert onnx.stat().st_size == size  # the entry is whole again


def test_key_follows_the_source_files(tmp_path: Path) -> None:
    graph, config = tmp_path / "g.pb", tmp_path / "c.pbtxt"
    graph.write_bytes(b"abc")
    config.write_text("node {}")
    key = ssd_cache.entry_key(graph, config)
    assert ssd_cache.entry_key(graph, config) == key
    graph.write_bytes(b"abcd")  # an upgraded model package
    assert ssd_cache.entry_key(graph, config) != key


def test_unwritable_folder_only_costs_the_rebuild(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the folder should be: mkdir fails as on a read-only home
    from vimrag.models.perceivers.ssd_onnx import PostSpec, SsdGraph

    spec = SsdGraph(b"graph", [], PostSpec(0.01, 0.6, 100, 100))
    with caplog.at_level(logging.WARNING, logger="vimrag.models.perceivers.ssd_cache"):
        assert ssd_cache.save(blocker / "sub", "k", spec) is None
    assert "built again at each start" in caplog.text
    assert ssd_cache.load(blocker / "sub", "k") is None


def test_prune_removes_unused_entries_and_leftovers_only(tmp_path: Path) -> None:
    """Entries unused for the given days go (graph and sidecar); the kept key, recently used entries and a
    writer's files younger than a day stay; ``days=0`` keeps every whole entry."""
    import os
    import time

    now = time.time()

    def put(name: str, age_days: float) -> Path:
        f = tmp_path / name
        f.write_bytes(b"x")
        os.utime(f, (now - age_days * 86400, now - age_days * 86400))
        return f

    for key, age in (("old", 40), ("recent", 2), ("mine", 90)):
        put(f"{key}.onnx", age), put(f"{key}.json", age)
    put("torn.onnx", 3)  # a killed writer's graph without its sidecar
    put("fresh.onnx", 0.01)  # a writer that is still writing its sidecar
    put("old.onnx.123.tmp", 5)
    assert sorted(ssd_cache.prune(tmp_path, keep="mine", days=0, now=now)) == ["old.onnx.123.tmp", "torn.onnx"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["fresh.onnx", "mine.json", "mine.onnx", "old.json", "old.onnx", "recent.json", "recent.onnx"]
    assert ssd_cache.prune(tmp_path, keep="mine", days=30, now=now) == ["old"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["fresh.onnx", "mine.json", "mine.onnx", "recent.json", "recent.onnx"]


def test_reading_an_entry_marks_it_used(tmp_path: Path) -> None:
    import os
    import time

    from vimrag.models.perceivers.ssd_onnx import PostSpec, SsdGraph

    spec = SsdGraph(b"graph", [], PostSpec(0.01, 0.6, 100, 100))
    ssd_cache.save(tmp_path, "k", spec)
    meta = tmp_path / "k.json"
    month_ago = time.time() - 30 * 86400
    os.utime(meta, (month_ago, month_ago))
    assert ssd_cache.load(tmp_path, "k") is not None
    assert meta.stat().st_mtime > month_ago + 29 * 86400
