"""Hostile input at the command line: odd names, links out of the corpus, broken files, markup.

Each case ends in a per-file report or one clear line (exit 2), never a traceback, and never reads
outside what the user named. Run as real subprocesses: the exit path is what is tested.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.test_cli import _run


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("# Notes\n\nThe launch moved to March.\n", encoding="utf-8")
    return corpus


@pytest.mark.slow
@pytest.mark.integration
def test_odd_names_and_links_out_of_the_corpus(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    bad = os.path.join(os.fsencode(corpus), b"bad\xffname.md")  # not valid UTF-8
    with open(bad, "wb") as f:
        f.write(b"# Bad name\n\nStill a fine file.\n")
    (corpus / "x[red]y.md").write_text("# Brackets\n\nA file name with markup.\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nThe password is hunter2.\n", encoding="utf-8")
    (corpus / "escape").symlink_to(outside)
    (corpus / "loop").symlink_to(corpus)
    store = str(tmp_path / "s")

    res = _run("ingest", str(corpus), "--store", store, "--json", cwd=tmp_path, timeout=300)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    data = json.loads(res.stdout)
    failed = {f["path"]: f["reason"] for f in data["failed"]}
    assert any(p.endswith("bad\\xffname.md") and "UTF-8" in r for p, r in failed.items()), failed
    skipped = {Path(f["path"]).name: f["reason"] for f in data["skipped"]}
    assert "outside the given folders" in skipped["escape"] and "already visited" in skipped["loop"]
    assert data["added"] == 2  # notes.md and x[red]y.md: the bad name failed alone, its batch went in

    hits = json.loads(_run("search", "password", "--store", store, "--json", cwd=tmp_path).stdout)
    assert all("secret" not in h["source"] for h in hits["results"])

    plain = _run("ingest", str(corpus), "--store", store, cwd=tmp_path, timeout=300)
    assert plain.returncode == 0 and "Traceback" not in plain.stderr
    assert "outside the given folders" in plain.stderr  # reported again on a re-run, with brackets kept:
    listed = _run("search", "markup brackets", "--store", store, cwd=tmp_path)
    assert "x[red]y.md" in listed.stdout.replace("\n", "") or "x[red]y.m" in listed.stdout
    assert "· words: markup, bracket" in " ".join(listed.stdout.replace("│", " ").split())  # the matched words


@pytest.mark.parametrize(("args", "config", "expect"), [
    (["search", "cup", "-k", "0"], None, "-k must be between 1 and"),
    (["search", "cup", "-k", "1000000000"], None, "-k must be between 1 and"),
    (["info"], b"[store]\nuri = 5\n", "store.uri"),
    (["info"], b"[models]\nllm = \"\xff\xfe\"\n", "not UTF-8"),
    (["info"], b"[foo]\nx = 1\n", "unknown config section [foo]"),
    (["show", "notes.md"], None, "not valid JSON"),
])
def test_bad_input_is_one_clear_line(tmp_path: Path, args: list[str], config: bytes | None, expect: str) -> None:
    (tmp_path / "notes.md").write_text("# not a trajectory\n", encoding="utf-8")
    extra = []
    if config is not None:
        (tmp_path / "bad.toml").write_bytes(config)
        extra = ["--config", str(tmp_path / "bad.toml")]
    res = _run(*extra, *args, cwd=tmp_path)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert expect in res.stderr and "Traceback" not in res.stderr
    assert len([line for line in res.stderr.splitlines() if line.strip()]) <= 3  # one message, no box


@pytest.mark.integration
def test_a_query_with_undecodable_bytes_is_searched(tmp_path: Path) -> None:
    res = _run("search", "a cup \udcff\udcfe but no person", "--store", str(tmp_path / "s"), "--json",
               cwd=tmp_path)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert json.loads(res.stdout)["negative"] == ["person"]


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 4 MB tmpfs (root only: CI runs as root; elsewhere the test is skipped with the reason)."""
    import subprocess

    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
@pytest.mark.integration
def test_a_full_disk_during_ingest_reports_and_loses_nothing_committed(tmp_path: Path, small_disk: Path) -> None:

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "first.md").write_text("# First\n\nA small note that fits.\n", encoding="utf-8")
    store = small_disk / "s"
    first = _run("ingest", str(corpus / "first.md"), "--store", str(store), "--json", cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    for i in range(30):
        words = " ".join(f"word{i}_{j}" for j in range(400))  # a few kB each: the disk fills, the embedder stays quick
        (corpus / f"note{i:03d}.md").write_text(f"# Note {i}\n\n{words}\n", encoding="utf-8")
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - 150_000))  # leave ~150 kB: a few batches
    res = _run("--set", "ingest.write_batch_files=4", "ingest", str(corpus), "--store", str(store), "--json",
               cwd=tmp_path, timeout=600)
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    assert res.returncode == 2 and "ingest stopped" in res.stderr and "No space left" in res.stderr, res.stderr
    data = json.loads(res.stdout)  # the report still comes, with the reason
    assert data["stopped"] and data["failed"] and all("not written" in f["reason"] for f in data["failed"])
    written = {f["path"] for f in data["files"] if f["status"] in ("added", "unchanged")}
    # Moved to a disk with room, the store holds exactly the files reported as written, each complete.
    roomy = tmp_path / "roomy"
    shutil.copytree(store, roomy)
    info = _run("ingest", str(corpus), "--store", str(roomy), "--json", cwd=tmp_path, timeout=600)
    assert info.returncode == 0, info.stderr[-2000:]
    again = json.loads(info.stdout)
    assert {f["path"] for f in again["files"] if f["status"] == "unchanged"} == written
    assert again["store"]["sources"] == 31 and not again["failed"]
