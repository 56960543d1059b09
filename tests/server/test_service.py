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
