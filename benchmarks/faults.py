"""Fault scenarios end to end: each one run through the real CLI, checked for a traceback, timed.

Scenarios: model servers that are dead, trickle bytes, hang after the headers, or answer with JSON of
the wrong shape; a store on a full disk (a real tmpfs, root only); hostile names and links in a corpus;
broken files; bad config and arguments; and a longer fuzz of every loader with mutated real files.

Output: ``benchmarks/results/faults.json`` (``{"benchmark": "faults", "rows": [...], "meta": {...}}``, one
row per scenario: scenario, expected, observed, exit code, traceback, seconds to the error, items lost)
and ``faults.md`` (the same as a table). Run: ``python benchmarks/faults.py [--quick] [--fuzz N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
TIMEOUT_S = 5.0  # models.timeout_s for the server scenarios: every fault must surface within it + 5 s


def vimrag(*args: str, cwd: Path, timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "vimrag", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return res, time.monotonic() - t0


def row(scenario: str, expected: str, res: subprocess.CompletedProcess[str], seconds: float,
        ok: bool, items_lost: int | None = 0, observed: str = "") -> dict[str, Any]:
    said = " ".join(line.strip() for line in res.stderr.splitlines() if line.strip())
    return {"scenario": scenario, "expected": expected,
            "observed": observed or (said[:110] + ("…" if len(said) > 110 else "") if said else f"exit {res.returncode}"),
            "exit": res.returncode, "traceback": "Traceback" in res.stderr, "seconds": round(seconds, 2),
            "items_lost": items_lost, "ok": bool(ok and "Traceback" not in res.stderr)}


# ------------------------------------------------------------------ model servers
def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"openai:http://127.0.0.1:{srv.server_address[1]}/v1#m"


def _handler(body: Callable[[BaseHTTPRequestHandler], None]) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body(self)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    return H


def trickle(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("content-length", "100000")
    h.end_headers()
    for _ in range(120):
        h.wfile.write(b" ")
        h.wfile.flush()
        time.sleep(1.0)


def hang(h: BaseHTTPRequestHandler) -> None:
    time.sleep(120)


def wrong_shape(h: BaseHTTPRequestHandler) -> None:
    data = json.dumps({"choices": ["not an object"]}).encode()
    h.send_response(200)
    h.send_header("content-type", "application/json")
    h.send_header("content-length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def server_scenarios(work: Path) -> list[dict[str, Any]]:
    rows = []
    store = str(work / "server-store")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"openai:http://127.0.0.1:{s.getsockname()[1]}/v1#m"
    s.close()
    limits = ["--set", f"models.timeout_s={TIMEOUT_S}", "--set", "models.connect_timeout_s=1"]
    cases: list[tuple[str, str, Callable[[BaseHTTPRequestHandler], None] | None]] = [
        ("model server refuses connections", "exit 2, names the URL and the fix", None),
        ("model server trickles one byte a second", f"exit 2 within timeout_s ({TIMEOUT_S:.0f} s) + 5 s", trickle),
        ("model server hangs after accepting", f"exit 2 within timeout_s ({TIMEOUT_S:.0f} s) + 5 s", hang),
        ("model server answers JSON of the wrong shape", "exit 2, one line", wrong_shape),
    ]
    for name, expected, body in cases:
        srv = None
        spec = dead
        if body is not None:
            srv, spec = serve(_handler(body))
        try:
            res, secs = vimrag(*limits, "--set", "agent.max_steps=1", "ask", "What is in the photo?",
                               "--store", store, "--llm", spec, cwd=work, timeout=120)
        finally:
            if srv is not None:
                srv.shutdown()
                srv.server_close()
        rows.append(row(name, expected, res, secs, res.returncode == 2 and secs <= TIMEOUT_S + 1 + 5 + 5))
    return rows


# ------------------------------------------------------------------ disk
def disk_full(work: Path) -> dict[str, Any]:
    mnt = work / "disk"
    mnt.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode == 0
    if not mounted:
        return {"scenario": "disk full during ingest", "expected": "report + exit 2, nothing committed lost",
                "observed": "skipped: mounting a tmpfs needs root", "ok": None}
    try:
        corpus = work / "big"
        corpus.mkdir()
        for i in range(30):
            words = " ".join(f"w{i}_{j}" for j in range(1500))
            (corpus / f"n{i:02d}.md").write_text(f"# Note {i}\n\n{words}\n", encoding="utf-8")
        store = mnt / "s"
        vimrag("ingest", str(corpus / "n00.md"), "--store", str(store), cwd=work)
        (mnt / "filler").write_bytes(b"\0" * max(0, shutil.disk_usage(mnt).free - 400_000))
        res, secs = vimrag("--set", "ingest.write_batch_files=4", "ingest", str(corpus), "--store", str(store),
                           "--json", cwd=work)
        data = json.loads(res.stdout) if res.stdout.strip() else {}
        written = {f["path"] for f in data.get("files", []) if f["status"] in ("added", "unchanged")}
        roomy = work / "roomy"
        shutil.copytree(store, roomy)
        again, _ = vimrag("ingest", str(corpus), "--store", str(roomy), "--json", cwd=work)
        kept = {f["path"] for f in json.loads(again.stdout)["files"] if f["status"] == "unchanged"}
        lost = len(written - kept)
        return row("disk full during ingest", "report + exit 2, nothing committed lost", res, secs,
                   res.returncode == 2 and bool(data.get("stopped")) and lost == 0, lost,
                   f"exit {res.returncode}; {len(written)} files written, {len(data.get('failed', []))} "
                   f"reported not written; {lost} lost")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# ------------------------------------------------------------------ corpus and input
def corpus_scenarios(work: Path) -> list[dict[str, Any]]:
    corpus = work / "hostile"
    corpus.mkdir()
    (corpus / "ok.md").write_text("# Fine\n\nA normal note.\n", encoding="utf-8")
    with open(os.path.join(os.fsencode(corpus), b"bad\xffname.md"), "wb") as f:
        f.write(b"# Bad name\n")
    (corpus / "x[red]y.md").write_text("# Brackets\n", encoding="utf-8")
    (corpus / ("long" * 60 + ".md")).write_text("# Long name\n", encoding="utf-8")
    (corpus / "new\nline.md").write_text("# Newline\n", encoding="utf-8")
    (corpus / "empty.pdf").write_bytes(b"")
    (corpus / "noise.jpg").write_bytes(os.urandom(2048))
    outside = work / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nhunter2\n", encoding="utf-8")
    (corpus / "escape").symlink_to(outside)
    (corpus / "loop").symlink_to(corpus)
    res, secs = vimrag("ingest", str(corpus), "--store", str(work / "hs"), "--json", cwd=work)
    data = json.loads(res.stdout) if res.returncode == 0 else {}
    secret = "secret" in json.dumps(data.get("files", []))
    ok = res.returncode == 0 and data.get("added") == 4 and len(data.get("failed", [])) == 3 and not secret
    rows = [row("hostile names, links out and loops, broken files", "per-file report, links out not read",
                res, secs, ok, 0, f"added {data.get('added')}, failed {len(data.get('failed', []))}, skipped "
                f"{len(data.get('skipped', []))}, outside file read: {secret}")]
    bad_config = work / "bad.toml"
    for name, args, setup in [
        ("config file that is not UTF-8", ["--config", str(bad_config), "info"], b"[models]\nllm = \"\xff\"\n"),
        ("config value of the wrong type", ["--config", str(bad_config), "info"], b"[store]\nuri = 5\n"),
        ("-k 0", ["search", "cup", "-k", "0", "--store", str(work / "hs")], None),
        ("query with undecodable bytes", ["search", "cup \udcff", "--store", str(work / "hs"), "--json"], None),
        ("show on a file that is not JSON", ["show", str(corpus / "ok.md")], None),
    ]:
        if setup is not None:
            bad_config.write_bytes(setup)
        res, secs = vimrag(*args, cwd=work)
        want = 0 if "undecodable" in name else 2
        rows.append(row(name, f"exit {want}, one line", res, secs, res.returncode == want))
    return rows


def fuzz(n: int) -> dict[str, Any]:
    """The loader fuzz of the test suite, for longer: inputs tried and crashes (non-IngestError) found."""
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(ROOT / "tests" / "ingest" / "test_fuzz.py")], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "VIMRAG_FUZZ_EXAMPLES": str(n)})
    failed = res.stdout.count("FAILED")
    return {"scenario": f"fuzz: 9 formats × {n} mutated files", "expected": "0 crashes",
            "observed": f"{9 * n} inputs, {failed} formats with a crash", "exit": res.returncode,
            "traceback": failed > 0, "seconds": round(time.monotonic() - t0, 1), "items_lost": 0,
            "ok": res.returncode == 0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer fuzz inputs")
    ap.add_argument("--fuzz", type=int, default=0, help="mutated inputs per format (default 500, quick 60)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "faults.json"))
    args = ap.parse_args(argv)
    n = args.fuzz or (60 if args.quick else 500)
    with tempfile.TemporaryDirectory(prefix="vimrag-faults-") as tmp:
        work = Path(tmp)
        rows = [*server_scenarios(work), disk_full(work), *corpus_scenarios(work), fuzz(n)]
    out = Path(args.out)
    out.write_text(json.dumps({"benchmark": "faults", "rows": rows,
                               "meta": {"timeout_s": TIMEOUT_S, "fuzz_per_format": n}}, indent=1))
    cols = ["scenario", "expected", "observed", "exit", "traceback", "seconds", "items_lost", "ok"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")).replace("|", "/") for c in cols) + " |" for r in rows]
    out.with_suffix(".md").write_text("# Fault scenarios (`python benchmarks/faults.py`)\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r.get("ok") is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
