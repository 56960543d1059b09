"""Content hashing of source files: the identity behind idempotent, incremental ingest (DESIGN §1).

An item's id derives from its source's content hash (``vimrag.types.item_id``), so re-ingesting an unchanged
file is a no-op and a changed file replaces its items. The file is streamed in fixed-size blocks, so a
multi-gigabyte video costs constant memory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 1 << 20  # 1 MiB


def file_sha256(path: str | Path, block_size: int = _BLOCK) -> str:
    """Hex sha256 of a file's bytes, read in ``block_size`` blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(block_size):
            h.update(block)
    return h.hexdigest()
