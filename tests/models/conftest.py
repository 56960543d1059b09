"""Fixtures for model backend tests: registry models when installed, a real llama.cpp OpenAI server."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.procs import stop
from vimrag.errors import ModelUnavailableError
from vimrag.models.registry import resolve_model_file

SERVER_START_TIMEOUT_S = 90.0


def _model_or_skip(name: str) -> Path:
    try:
        return resolve_model_file(name)
    except ModelUnavailableError as exc:
        pytest.skip(f"{name} not installed: {exc}")


@pytest.fixture(scope="session")
def qwen05b_path() -> Path:
    return _model_or_skip("qwen2.5-coder-0.5b")


@pytest.fixture(scope="session")
def smollm_path() -> Path:
    return _model_or_skip("smollm2-135m")


@pytest.fixture(scope="session")
def qwen05b(qwen05b_path: Path) -> Any:
    """The 0.5B model in-process (shared by the llama.cpp and server tests: one load per session)."""
    pytest.importorskip("xllamacpp", reason="pip install 'vimrag[local]'")
    from vimrag.config import ModelsConfig
    from vimrag.models.llamacpp import LlamaCppLLM

    return LlamaCppLLM(str(qwen05b_path), ModelsConfig(n_ctx=2048, n_threads=2, seed=0))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(qwen05b_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama.cpp OpenAI-compatible server (``llama-server`` through xllamacpp, in its own process:
    tests/models/llama_server.py) on a free port, polled until ready, stopped afterwards.

    Yields the base URL (``http://127.0.0.1:PORT/v1``).
    """
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("the llama.cpp server needs xllamacpp: pip install 'vimrag[local]'")
    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    cmd = [sys.executable, str(Path(__file__).with_name("llama_server.py")), str(qwen05b_path), str(port), "2048"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the llama.cpp server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the llama.cpp server was not ready in {SERVER_START_TIMEOUT_S:.0f}s:\n{log.read_text()[-2000:]}"
                )
            time.sleep(0.3)
        yield base
    finally:
        stop(proc, 10)
