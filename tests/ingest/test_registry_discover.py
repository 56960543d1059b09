from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from vimrag.config import IngestConfig
from vimrag.errors import IngestError
from vimrag.ingest.base import Loader
from vimrag.ingest.discover import discover
from vimrag.ingest.hashing import file_sha256
from vimrag.ingest.registry import iter_items, loader_for, supported_extensions


def test_every_loader_satisfies_protocol(media_dir: Path, doc_dir: Path, video_dir: Path) -> None:
    for p in [
        media_dir / "red.png",
        doc_dir / "two_pages.pdf",
        doc_dir / "notes.md",
        doc_dir / "page.html",
        doc_dir / "plain.txt",
        video_dir / "scenes.webm",
    ]:
        assert isinstance(loader_for(p), Loader)
    for ext in (
        ".md",
        ".html",
        ".pdf",
        ".png",
        ".jpg",
        ".jpeg",
        ".webp",
        ".bmp",
        ".gif",
        ".tiff",
        ".mp4",
        ".webm",
        ".mkv",
        ".mov",
        ".avi",
        ".txt",
    ):
        assert ext in supported_extensions()


def test_magic_beats_extension(tmp_path: Path, media_dir: Path, doc_dir: Path) -> None:
    (tmp_path / "report.txt").write_bytes((doc_dir / "two_pages.pdf").read_bytes())
    assert loader_for(tmp_path / "report.txt").name == "pdf"
    (tmp_path / "photo").write_bytes((media_dir / "red.png").read_bytes())
    assert loader_for(tmp_path / "photo").name == "image"
    (tmp_path / "README").write_text("hello")
    assert loader_for(tmp_path / "README").name == "text"
    (tmp_path / "page.txt").write_text("<!DOCTYPE html><html><body><p>x</p></body></html>")
    assert loader_for(tmp_path / "page.txt").name == "html"


@pytest.mark.parametrize(
    ("name", "reason"), [("empty.txt", "empty"), ("blank.txt", "blank"), ("binary.txt", "binary")]
)
def test_bad_text(doc_dir: Path, name: str, reason: str) -> None:
    with pytest.raises(IngestError, match=reason):
        list(iter_items(doc_dir / name, IngestConfig()))


def test_missing_and_unsupported(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="not found"):
        loader_for(tmp_path / "nope.md")
    (tmp_path / "code.py").write_text("print(1)")
    with pytest.raises(IngestError, match="unsupported format '.py'"):
        loader_for(tmp_path / "code.py")


def test_discover_rules(tmp_path: Path, media_dir: Path) -> None:
    root = tmp_path / "corpus"
    (root / "b" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "store").mkdir()
    (root / "a.md").write_text("# A")
    (root / "b" / "deep" / "c.txt").write_text("c")
    (root / "b" / "z.png").write_bytes((media_dir / "red.png").read_bytes())
    (root / "b" / "noext").write_bytes((media_dir / "red.png").read_bytes())
    (root / ".hidden" / "x.md").write_text("x")
    (root / ".secret.md").write_text("x")
    (root / "store" / "s.md").write_text("x")
    (root / "skip.py").write_text("x")
    os.symlink(root, root / "b" / "loop")  # a loop back to the root
    os.symlink(root / "a.md", root / "b" / "alias.md")  # the same file twice
    skipped: list[tuple[Path, str]] = []
    found = discover(
        [root, root / "a.md"], exclude=[root / "store"], on_skip=lambda p, r: skipped.append((p, r))
    )
    rel = [p.relative_to(root).as_posix() for p in found]
    assert rel == sorted(rel)
    assert set(rel) == {"a.md", "b/deep/c.txt", "b/noext", "b/z.png"}
    reasons = {r for _, r in skipped}
    assert any("symlink loop" in r for r in reasons) and "hidden" in reasons and "store folder" in reasons
    assert discover([tmp_path / "missing.md"]) == [tmp_path / "missing.md"]  # reported later by loader_for


def test_file_sha256_streams(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    (tmp_path / "f.bin").write_bytes(data)
    assert file_sha256(tmp_path / "f.bin", block_size=4096) == hashlib.sha256(data).hexdigest()
