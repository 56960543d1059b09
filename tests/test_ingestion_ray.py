"""Distributed ingestion on a real local Ray (2 CPUs): the same store content as a local ingest, the same
per-file guarantees, and a worker killed mid-job that costs nothing (issue 17)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.conftest import PG_URI, _with_schema, pg_skip
from vimrag import Memory, load_config

pytestmark = [pytest.mark.slow, pytest.mark.integration]
ray = pytest.importorskip("ray")
COCO = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco128-train" / "images"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    skimage_data = pytest.importorskip("skimage").data
    root = tmp_path / "corpus"
    root.mkdir()
    for name in ("coffee.png", "chelsea.png"):
        shutil.copyfile(Path(skimage_data.__file__).parent / name, root / name)
    (root / "notes.md").write_text("# Notes\n\nThe espresso machine in the lab was repaired on Tuesday.\n")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return root


def _memory(uri: str) -> Memory:
    return Memory(load_config(overrides={"store.uri": uri, "ingest.ocr": "false"}, env={}))


def _content(mem: Memory) -> dict[str, tuple]:
    return {it.id: (it.source, it.text, sorted(it.has), sorted(it.not_has), it.media) for it in mem.items()}


@pytest.fixture(params=[pytest.param("lance"), pytest.param("postgres", marks=[pytest.mark.postgres, pg_skip])])
def store_uris(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "lance":
        yield str(tmp_path / "ray-store"), str(tmp_path / "local-store")
        return
    uris = tuple(_with_schema(PG_URI, f"r{i}_" + uuid.uuid4().hex[:10]) for i in range(2))
    yield uris  # type: ignore[misc]
    from vimrag.store.postgres import PostgresStore

    for uri in uris:
        s = PostgresStore(uri)
        s.drop()
        s.close()


def test_ray_ingest_stores_what_a_local_ingest_stores(local_ray, corpus: Path, store_uris) -> None:
    ray_uri, local_uri = store_uris
    with _memory(ray_uri) as mr, _memory(local_uri) as ml:
        report = mr.add([corpus], progress=False, engine="ray")
        assert report.added == 3 and [Path(f.path).name for f in report.failed] == ["broken.png"]
        assert "image" in report.failed[0].reason  # the bad file alone, with its reason
        ml.add([corpus], progress=False)
        assert _content(mr) == _content(ml)  # same item ids, texts, concept states, media names
        photo = next(it for it in mr.items() if it.source.endswith("coffee.png"))
        assert "cup" in photo.has and mr.load_image(photo) is not None  # the writer stored the worker's thumbnail
        again = mr.add([corpus], progress=False, engine="ray")
        assert again.unchanged == 3 and again.added == 0  # idempotent: nothing sent to Ray
        (corpus / "notes.md").write_text("# Notes\n\nThe espresso machine was replaced by a kettle.\n")
        changed = mr.add([corpus / "notes.md"], progress=False, engine="ray")
        assert changed.replaced == 1
        assert all("kettle" in it.text for it in mr.items() if it.source.endswith("notes.md"))


def _busiest_worker() -> int | None:
    """The PID of the Ray map worker that has used the most CPU (one of ours, busy with a file)."""
    out = subprocess.run(["pgrep", "-f", "MapBatches"], capture_output=True, text=True).stdout
    cpu = {}
    for pid in (int(p) for p in out.split()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        cpu[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    return max(cpu, key=lambda p: cpu[p]) if cpu else None


@pytest.mark.skipif(not COCO.is_dir(), reason="needs ../shared/data/coco128-train")
def test_a_worker_killed_mid_job_costs_no_file(local_ray, tmp_path: Path) -> None:
    corpus = tmp_path / "photos"
    corpus.mkdir()
    for p in sorted(COCO.glob("*.jpg"))[:10]:
        shutil.copyfile(p, corpus / p.name)
    killed: list[int] = []

    def kill_one() -> None:  # once a worker is busy with files, kill it (SIGKILL: no clean-up of any kind)
        deadline = time.monotonic() + 90
        seen = 0.0
        while time.monotonic() < deadline and not killed:
            pid = _busiest_worker()
            if pid is not None:
                seen = seen or time.monotonic()
                if time.monotonic() - seen > 3:  # models loaded, inside a file
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    except ProcessLookupError:  # it ended between the look and the kill: look again
                        pass
            time.sleep(0.2)

    with _memory(str(tmp_path / "store")) as mem:
        killer = threading.Thread(target=kill_one)
        killer.start()
        try:
            report = mem.add([corpus], progress=False, engine="ray")
        finally:
            killer.join()
        assert killed, "no Ray worker was seen"
        # Ray restarted the worker and retried its file: the job completed with every file, once.
        assert report.added == 10 and not report.failed
        again = mem.add([corpus], progress=False, engine="ray")
        assert again.unchanged == 10
        ids = [it.id for it in mem.items()]
        assert len(ids) == len(set(ids)) == 10
