"""The service in process (FastAPI's TestClient over a real LanceDB store): the bounded question line,
the bind refusal, and the path rules, without a model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vimrag.config import Config
from vimrag.errors import VimragError
from vimrag.server.paths import Forbidden, confine, safe_filename, trajectory_file
from vimrag.server.service import AskGate, Busy, Service, check_bind

pytest.importorskip("fastapi")


@pytest.fixture
def service(tmp_path: Path):
    cfg = Config().with_overrides({"store.uri": str(tmp_path / "store"), "server.ask_queue": 1,
                                   "server.retry_after_s": 7, "server.token": "t"})
    svc = Service(cfg)
    yield svc
    svc.close()


def test_a_full_question_line_is_429_with_retry_after(service: Service) -> None:
    from fastapi.testclient import TestClient

    from vimrag.server.http import create_app

    service.gate.enter()  # one question holds the model...
    service.gate.enter()  # ...and one waits: the line (ask_queue=1) is full
    with TestClient(create_app(service)) as client:
        for path in ("/ask", "/ask/stream"):
            r = client.post(path, json={"question": "anything"}, headers={"Authorization": "Bearer t"})
            assert r.status_code == 429, r.text
            assert r.headers["retry-after"] == "7" and "busy" in r.json()["error"]
        assert client.get("/health").json() == {"status": "ok", "items": 0, "sources": 0}
    assert service.gate.waiting == 1  # refused questions took no place in line


def test_gate_lets_one_in_and_counts_the_line() -> None:
    gate = AskGate(queue=0)
    gate.enter()
    with pytest.raises(Busy):
        gate.enter()
    with gate.model():
        pass
    gate.enter()  # the place was given back


def test_bind_beyond_loopback_needs_a_token() -> None:
    check_bind("127.0.0.1", "")
    check_bind("0.0.0.0", "secret")
    with pytest.raises(VimragError, match="without a token"):
        check_bind("0.0.0.0", "")


def test_serve_refuses_a_public_host_without_token_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIMRAG_TOKEN", "VIMRAG_SERVER_TOKEN")}
    r = subprocess.run([sys.executable, "-m", "vimrag", "serve", "--host", "0.0.0.0", "--store", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert r.returncode == 2 and "without a token" in r.stderr and "Traceback" not in r.stderr


def test_serve_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "vimrag", "serve", "--port", str(port), "--store", str(tmp_path / "s")],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr


def test_confine_follows_links_and_dots(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "f.md").write_text("x")
    (outside / "s.md").write_text("x")
    (root / "link").symlink_to(outside)
    roots = [root.resolve()]
    assert confine("a/f.md", roots) == (root / "a" / "f.md").resolve()
    assert confine(str(root / "a"), roots) == (root / "a").resolve()
    for bad in ("../outside/s.md", str(outside / "s.md"), "link/s.md", "link", "/etc/passwd", "a/../../outside",
                "missing.md", "", "a\x00b"):
        with pytest.raises(Forbidden):
            confine(bad, roots)
    with pytest.raises(Forbidden, match="ingest_roots"):
        confine("a/f.md", [])


def test_upload_names_become_one_harmless_component() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\\\x\\\\report.pdf") == "report.pdf"
    assert safe_filename("..") == "upload" and safe_filename(None) == "upload" and safe_filename(".bashrc") == "bashrc"
    assert safe_filename("a\x00b\nc.md") == "abc.md"
    assert safe_filename("<img src=x onerror=alert(1)>.md") == "<img src=x onerror=alert(1)>.md"  # text, not HTML


def test_trajectory_ids_cannot_leave_their_folder(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "run-1.json").write_text("{}")
    (tmp_path / "secret.json").write_text("{}")
    assert trajectory_file(tmp_path / "t", "run-1") == (tmp_path / "t" / "run-1.json").resolve()
    for bad in ("../secret", "..", "/etc/passwd", "run-2", ".hidden", "a/b"):
        assert trajectory_file(tmp_path / "t", bad) is None


def test_each_request_names_its_workspace_and_none_crosses(tmp_path: Path) -> None:
    """One server, two corpora (issue 17): an upload creates workspace `a`; search, sources, delete and
    media links there never see or touch the default workspace's files, and back."""
    import time

    from fastapi.testclient import TestClient

    from vimrag.server.http import create_app

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "falcon.md").write_text("Project Falcon is led by Ada Okafor with a budget of 3.2 million euros.")
    (docs / "heron.md").write_text("Project Heron studies wading birds along the northern estuary.")
    cfg = Config().with_overrides({"store.uri": str(tmp_path / "store"), "server.ingest_roots": [str(docs)],
                                   "server.ask_queue": 0})
    svc = Service(cfg)

    def ingest(client: TestClient, body: dict) -> dict:
        job = client.post("/ingest", json=body).json()["job"]
        for _ in range(600):
            j = client.get(f"/jobs/{job}").json()
            if j["state"] in ("done", "failed"):
                return j
            time.sleep(0.1)
        raise AssertionError("ingest did not finish")

    try:
        with TestClient(create_app(svc)) as client:
            assert ingest(client, {"paths": [str(docs / "falcon.md")], "workspace": "a"})["state"] == "done"
            assert ingest(client, {"paths": [str(docs / "heron.md")]})["state"] == "done"
            assert client.get("/workspaces").json() == {"workspaces": ["default", "a"],
                                                                        "default": "default"}
            in_a = client.post("/search", json={"query": "who leads the project", "k": 5, "workspace": "a"}).json()
            in_default = client.post("/search", json={"query": "who leads the project", "k": 5}).json()
            assert {Path(h["source"]).name for h in in_a["results"]} == {"falcon.md"}
            assert {Path(h["source"]).name for h in in_default["results"]} == {"heron.md"}
            srcs_a = client.get("/sources", params={"workspace": "a"}).json()["sources"]
            assert [Path(s["source"]).name for s in srcs_a] == ["falcon.md"]
            falcon = srcs_a[0]["source"]
            # the default workspace does not hold falcon.md: a delete there is a 404 and removes nothing
            assert client.request("DELETE", "/sources", json={"source": falcon}).status_code == 404
            assert client.get("/sources", params={"workspace": "a"}).json()["sources"] == srcs_a
            assert client.get("/sources", params={"workspace": "nope"}).status_code == 404  # reads create nothing
            assert "nope" not in client.get("/workspaces").json()["workspaces"]
            bad = client.post("/search", json={"query": "x", "workspace": "../etc"})
            assert bad.status_code == 400 and "workspace" in bad.json()["error"]
            r = client.request("DELETE", "/sources", json={"source": falcon, "workspace": "a"})
            assert r.status_code == 200 and r.json()["removed"] >= 1
            assert client.get("/sources", params={"workspace": "a"}).json()["sources"] == []
            assert [Path(s["source"]).name for s in client.get("/sources").json()["sources"]] == ["heron.md"]
            # a refused question gives its place back: with ask_queue 0 a leaked place would make the
            # second refusal a 429 and the last enter() raise Busy
            for ws in ("a", "nope"):
                r = client.post("/ask", json={"question": "q", "method": "nope", "workspace": ws})
                assert r.status_code == 400, r.text
            assert client.post("/ask", json={"question": "q", "workspace": "nope"}).status_code == 404
            svc.gate.enter()
            svc.gate.leave()
    finally:
        svc.close()


def test_media_links_name_the_workspace() -> None:
    from vimrag.server.service import media_links
    from vimrag.types import Item, Modality

    item = Item(id="i1", source="s", source_hash="h", modality=Modality.VIDEO, media="i1.jpg",
                meta={"keyframe_media": [{"t": 1.5, "media": "i1_0.jpg"}]})
    assert media_links(item) == {"media": "/media/i1", "keyframes": [{"t": 1.5, "media": "/media/i1?frame=0"}]}
    assert media_links(item, "a") == {"media": "/media/i1?workspace=a",
                                      "keyframes": [{"t": 1.5, "media": "/media/i1?frame=0&workspace=a"}]}
