"""The REST contract of ``vimrag serve`` against a running server with a real store (both kinds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.server.conftest import Server

pytestmark = pytest.mark.slow

NEGATIVE = "a photo with a person but no cat"


def _cli_json(server: Server, *args: str) -> dict:
    sets = [a for s in server.settings for a in ("--set", s)]
    out = subprocess.run([sys.executable, "-m", "vimrag", *sets, *args, "--json"], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True)
    return json.loads(out.stdout)


def _strip_media(result: dict) -> dict:
    drop = {"media", "keyframes", "size"}
    return {**result, **{k: [{f: v for f, v in h.items() if f not in drop} for h in result[k]]
                         for k in ("results", "excluded")}}


def test_health_needs_no_token_and_counts(server: Server) -> None:
    with server.client(token=None) as c:
        h = c.get("/health")
    assert h.status_code == 200
    body = h.json()
    assert set(body) == {"status", "items", "sources"} and body["status"] == "ok"
    with server.client() as c:
        assert body["sources"] == len(c.get("/sources").json()["sources"]) >= 4  # other tests may have added
    assert body["items"] >= body["sources"]


@pytest.mark.parametrize("method,path", [("POST", "/search"), ("GET", "/sources"), ("POST", "/ask"),
                                         ("GET", "/media/x"), ("POST", "/mcp"), ("GET", "/jobs/x"),
                                         ("POST", "/ingest"), ("DELETE", "/sources")])
def test_every_other_route_needs_the_token(server: Server, method: str, path: str) -> None:
    for token in (None, "wrong"):
        with server.client(token=token) as c:
            r = c.request(method, path, json={"query": "x", "question": "x", "paths": ["x"], "source": "x"})
        assert r.status_code == 401, (path, token, r.text)
        assert "token" in r.json()["error"]


def test_search_is_the_cli_json_plus_media(server: Server) -> None:
    with server.client() as c:
        r = c.post("/search", json={"query": NEGATIVE, "k": 5})
    assert r.status_code == 200
    got = r.json()
    top = got["results"][0]
    assert top["source"].endswith("astronaut.png") and top["state"] == "verified", got["results"]
    assert any(h["source"].endswith("chelsea.png") and h["state"] == "conflict" for h in got["excluded"]), got
    assert top["media"] == f"/media/{top['id']}"
    assert _strip_media(got) == _cli_json(server, "search", NEGATIVE, "-k", "5")
    with server.client() as c:
        strict = c.post("/search", json={"query": NEGATIVE, "k": 5, "strict": True}).json()
    assert {h["state"] for h in strict["results"]} == {"verified"}


def test_media_returns_the_image_and_nothing_else(server: Server) -> None:
    with server.client() as c:
        top = c.post("/search", json={"query": NEGATIVE, "k": 1}).json()["results"][0]
        img = c.get(top["media"])
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
        assert img.content[:3] == b"\xff\xd8\xff"
        for bad in ("..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "nope", f"{top['id']}?frame=99"):
            r = c.get(f"/media/{bad}")
            assert r.status_code == 404, (bad, r.status_code)
            assert b"root:" not in r.content


def test_search_rejects_bad_requests_with_json_errors(server: Server) -> None:
    with server.client() as c:
        for body in ({"query": ""}, {"query": "x", "k": 0}, {"query": "x", "k": 5000}, {"k": 3}, [1, 2]):
            r = c.post("/search", json=body)
            assert r.status_code == 422 and "error" in r.json(), body


def test_ingest_paths_outside_the_roots_are_refused(server: Server) -> None:
    link = server.root / "escape"
    if not link.exists():
        link.symlink_to(server.outside)
    bad = [str(server.outside / "secret.md"), "../outside/secret.md", str(server.root / ".." / "outside"),
           "escape/secret.md", str(link), "/etc/passwd", "corpus/../../outside/secret.md", "no-such-file"]
    with server.client() as c:
        for p in bad:
            r = c.post("/ingest", json={"paths": [p]})
            assert r.status_code == 403, (p, r.text)
        assert not any("secret" in s["source"] for s in c.get("/sources").json()["sources"])


def test_upload_ingests_then_remove_forgets(server: Server) -> None:
    with server.client() as c:
        r = c.post("/ingest", files=[("files", ("../../evil name.md", b"# Harbour\nThe ferry leaves at 7:15.\n"))])
        assert r.status_code == 200, r.text
        job = server.wait_job(r.json()["job"])
        assert job["state"] == "done" and job["report"]["added"] == 1, job
        src = job["report"]["files"][0]["path"]
        assert src.endswith("evil name.md") and ".." not in src
        assert src in [s["source"] for s in c.get("/sources").json()["sources"]]
        hits = c.post("/search", json={"query": "when does the ferry leave", "k": 1}).json()["results"]
        assert hits[0]["source"] == src
        gone = c.request("DELETE", "/sources", json={"source": src})
        assert gone.status_code == 200 and gone.json()["removed"] >= 1
        assert src not in [s["source"] for s in c.get("/sources").json()["sources"]]
        assert c.request("DELETE", "/sources", json={"source": "/etc/passwd"}).status_code == 404
        assert c.get("/jobs/nope").status_code == 404


def test_oversized_upload_is_413_and_nothing_is_kept(server: Server) -> None:
    uploads = server.root.parent / "uploads"
    with server.client() as c:
        r = c.post("/ingest", files=[("files", ("big.md", b"x" * (2 << 20)))])
        assert r.status_code == 413 and "max_upload_mb" in r.json()["error"]
        # A body that never says its length is cut off as it streams.
        def chunks():
            yield b'--zz\r\nContent-Disposition: form-data; name="files"; filename="big.md"\r\n\r\n'
            for _ in range(40):
                yield b"y" * (64 << 10)
        r = c.post("/ingest", content=chunks(), headers={"content-type": "multipart/form-data; boundary=zz"})
        assert r.status_code == 413
    assert not list(uploads.rglob("big.md"))


@pytest.mark.integration
def test_ask_is_the_cli_json_and_the_stream_ends_with_the_answer(lance_server: Server) -> None:
    """On the embedded store only: the answer path is the same over both stores (their search, which it
    calls, is checked on both above), and each run costs a minute and a half of the suite's 20 on a slow CPU."""
    server = lance_server
    q = "What is the astronaut wearing?"
    with server.client() as c:
        r = c.post("/ask", json={"question": q, "method": "rag"})
        assert r.status_code == 200, r.text
        got = r.json()
        cli = _cli_json(server, "ask", q, "--method", "rag")
        assert set(cli) <= set(got) and got["method"] == "rag"
        assert [c_["source"] for c_ in got["citations"]] == [c_["source"] for c_ in cli["citations"]]
        traj = c.get(f"/trajectories/{got['trajectory_id']}")
        assert traj.status_code == 200 and traj.json()["question"] == q
        assert c.get("/trajectories/..%2F..%2Fetc%2Fpasswd").status_code == 404
        assert c.post("/ask", json={"question": q, "method": "nope"}).status_code == 400

        events = []
        # one-call rag here too: the stream of a vimrag episode (memorize steps, the graph) is what the
        # browser test draws; this test checks the route's event format, which is the same for every method
        with c.stream("POST", "/ask/stream", json={"question": q, "method": "rag"}) as s:
            assert s.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in s.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
    kinds = [k for k, _ in events]
    assert kinds[0] == "retrieve" and kinds[-1] == "answer" and kinds.count("answer") == 1, kinds
    first = events[0][1]
    assert first["node"]["id"] == 1 and first["node"]["query"] and first["node"]["bank"]
    assert "allocation" in first
    assert {"answer", "citations", "trajectory_id"} <= set(events[-1][1])
