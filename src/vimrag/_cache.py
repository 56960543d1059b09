"""Where vimrag keeps caches on this machine: ``$VIMRAG_CACHE_DIR`` or ``~/.cache/vimrag``.

One function for every cache (query-word vectors, the speech model's tokenizer, PostgreSQL stores'
in-process indexes), so one variable moves them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$VIMRAG_CACHE_DIR`` or ``~/.cache/vimrag`` (read when called, never at import)."""
    value = (os.environ if env is None else env).get("VIMRAG_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "vimrag"
