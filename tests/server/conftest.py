"""A real ``vimrag serve`` per store kind (LanceDB always, PostgreSQL when ``VIMRAG_TEST_PG_URI`` is set),
started as a subprocess on a free port with a token, over three real photos and a note that the server
itself ingests through ``POST /ingest``; questions go to the 0.5B Qwen GGUF (the small test model).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.procs import stop
from tests.store.conftest import PG_URI, pg_skip

TOKEN = "test-token-5c1d"
PHOTOS = ("chelsea.png", "astronaut.png", "coffee.png")  # a cat; a person; a cup — real photos
SMALL_LLM = "llamacpp:qwen2.5-coder-0.5b"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    store: str
    root: Path  # the ingest root
    corpus: Path  # inside root
    outside: Path  # a folder outside every ingest root
    trajectories: Path
    log: Path
    settings: list[str]  # the --set options it was started with (for CLI comparisons)

    def client(self, token: str | None = TOKEN, timeout: float = 300) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def wait_job(self, job: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while time.monotonic() < deadline:
                j = c.get(f"/jobs/{job}").json()
                if j["state"] in ("done", "failed"):
                    return j
                time.sleep(0.3)
        raise AssertionError(f"job {job} did not finish in {timeout} s; server log:\n{self.log.read_text()}")


@pytest.fixture(scope="session")
def demo_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vimrag.demo.corpus import assemble

    d = tmp_path_factory.mktemp("demo")
    assemble(d)
    return d


def _start(kind: str, base: Path, demo: Path) -> Iterator[Server]:
    root, outside = base / "root", base / "outside"
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    outside.mkdir()
    for name in PHOTOS:
        shutil.copyfile(demo / name, corpus / name)
    shutil.copyfile(demo / "project_falcon.md", corpus / "project_falcon.md")
    (outside / "secret.md").write_text("# Secret\nThe vault code is 4711.\n")
    schema = "srv_" + uuid.uuid4().hex[:10]
    store = str(base / "store") if kind == "lance" else PG_URI + ("&" if "?" in PG_URI else "?") + f"schema={schema}"
    port = free_port()
    # PostgreSQL keeps its media in the database (issue 17): the server then shows what its ingest wrote there
    media = [f"store.media_dir={base / 'media'}"] if kind == "lance" else []
    settings = [
        f"store.uri={store}", *media, f"server.upload_dir={base / 'uploads'}", f"server.ingest_roots={root}",
        f"models.llm={SMALL_LLM}", "models.n_ctx=4096", "agent.max_steps=2", "agent.max_completion_tokens=96",
        f"agent.trajectories_dir={base / 'trajectories'}", "server.max_upload_mb=1", "server.ask_queue=2",
    ]
    args = [sys.executable, "-m", "vimrag", *[a for s in settings for a in ("--set", s)], "serve", "--port", str(port)]
    log = base / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VIMRAG_TOKEN": TOKEN}
    with log.open("w") as fh:
        proc = subprocess.Popen(args, cwd=base, stdout=fh, stderr=subprocess.STDOUT, env=env)
    server = Server(f"http://127.0.0.1:{port}", store, root, corpus, outside, base / "trajectories", log, settings)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"vimrag serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        with server.client() as c:
            job = c.post("/ingest", json={"paths": [str(corpus)]}).json()["job"]
        report = server.wait_job(job)
        assert report["state"] == "done" and report["report"]["added"] == 4, report
        yield server
    finally:
        stop(proc, 20)
        if kind == "postgres":
            from vimrag.store.postgres import PostgresStore

            s = PostgresStore(store)
            s.drop()
            s.close()


@pytest.fixture(scope="session")
def lance_server(tmp_path_factory: pytest.TempPathFactory, demo_photos: Path) -> Iterator[Server]:
    yield from _start("lance", tmp_path_factory.mktemp("serve-lance"), demo_photos)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory, demo_photos: Path) -> Iterator[Server]:
    yield from _start("postgres", tmp_path_factory.mktemp("serve-pg"), demo_photos)


@pytest.fixture(params=[
    pytest.param("lance", marks=pytest.mark.integration),
    pytest.param("postgres", marks=[pytest.mark.integration, pytest.mark.postgres, pg_skip]),
])
def server(request: pytest.FixtureRequest) -> Server:
    """Each HTTP test runs against both stores."""
    return request.getfixturevalue("lance_server" if request.param == "lance" else "pg_server")
