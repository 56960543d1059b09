"""Fuzzing the loaders with bytes mutated from real files: a bad file is an IngestError, nothing else.

Bounded for CI (``VIMRAG_FUZZ_EXAMPLES`` examples per format, 60 by default); ``benchmarks/faults.py``
runs the same mutations for longer and reports inputs tried and failures found.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vimrag.config import IngestConfig
from vimrag.errors import IngestError
from vimrag.ingest.registry import loader_for

EXAMPLES = int(os.environ.get("VIMRAG_FUZZ_EXAMPLES", "60"))
CONFIG = IngestConfig(ocr=False, transcribe=False)  # the loaders' own parsing, not the models'


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """Flip a few bytes, cut the file short, or splice random bytes in: what broken files look like."""
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "header"]))
    buf = bytearray(data)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 16))):
            i = draw(st.integers(0, len(buf) - 1))
            buf[i] = draw(st.integers(0, 255))
    elif kind == "truncate":
        buf = buf[: draw(st.integers(0, len(buf) - 1))]
    elif kind == "splice":
        i = draw(st.integers(0, len(buf)))
        buf[i:i] = draw(st.binary(min_size=1, max_size=256))
    else:  # keep the magic bytes, garble what follows
        cut = min(len(buf), 16)
        buf = buf[:cut] + bytearray(draw(st.binary(min_size=0, max_size=2048)))
    return bytes(buf)


def check_loader_on(data: bytes, suffix: str, folder: Path) -> None:
    """Load ``data`` as a file with ``suffix``: items, or an IngestError naming the problem."""
    path = folder / f"fuzz-{uuid.uuid4().hex}{suffix}"
    path.write_bytes(data)
    try:
        items = list(loader_for(path).load(path, CONFIG))
        for item in items:
            assert isinstance(item.text, str)
    except IngestError as exc:
        assert exc.reason  # a reason a user can read
    finally:
        path.unlink(missing_ok=True)


def _fixture_files(media_dir: Path, doc_dir: Path, video_dir: Path) -> dict[str, Path]:
    return {
        "png": media_dir / "red.png", "jpg": media_dir / "red.jpg", "gif": media_dir / "anim.gif",
        "webp": media_dir / "red.webp", "pdf": doc_dir / "two_pages.pdf", "md": doc_dir / "notes.md",
        "html": doc_dir / "page.html", "txt": doc_dir / "plain.txt", "mp4": video_dir / "scenes.mp4",
    }


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["png", "jpg", "gif", "webp", "pdf", "md", "html", "txt", "mp4"])
def test_mutated_files_never_crash_a_loader(fmt: str, media_dir: Path, doc_dir: Path, video_dir: Path,
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    source = _fixture_files(media_dir, doc_dir, video_dir)[fmt]
    folder = tmp_path_factory.mktemp(f"fuzz-{fmt}")

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutations(source.read_bytes()))
    def run(data: bytes) -> None:
        check_loader_on(data, source.suffix, folder)

    run()
