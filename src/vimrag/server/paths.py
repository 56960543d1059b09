"""What a request may name on disk: ingest paths under the configured roots, upload names, trajectory ids.

Every check resolves symlinks first (``Path.resolve(strict=True)``), so ``root/link -> /etc`` and
``root/../x`` are judged by where they really lead. A request never supplies a path that the server reads
media or trajectories from: those are looked up by id inside folders the server owns.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from vimrag.errors import VimragError


class Forbidden(VimragError):
    """A request named something outside what the server may touch (HTTP 403)."""


_TRAJECTORY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def resolve_roots(roots: Sequence[str]) -> list[Path]:
    """The ingest roots as real folders; a configured root that does not exist is a configuration error."""
    out: list[Path] = []
    for r in roots:
        p = Path(r).expanduser()
        if not p.is_dir():
            raise VimragError(f"server.ingest_roots: {r!r} is not a folder")
        out.append(p.resolve())
    return out


def confine(path: str, roots: Sequence[Path]) -> Path:
    """``path`` resolved, if it exists and lies inside one of ``roots``; else :class:`Forbidden`.

    Relative paths are taken relative to the first root (what a client naming ``"reports/q3.pdf"``
    means), never to the server's working directory.
    """
    if not roots:
        raise Forbidden("ingesting paths is off: set server.ingest_roots, or upload the files")
    if not isinstance(path, str) or not path or "\x00" in path:
        raise Forbidden("not a path")
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = roots[0] / p
    try:
        real = p.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop, unreadable
        raise Forbidden(f"not an ingestible path under the ingest roots: {path}") from None
    if not any(real.is_relative_to(r) for r in roots):
        raise Forbidden(f"outside the ingest roots: {path}")
    return real


def safe_filename(name: str | None) -> str:
    """An uploaded file's name reduced to one harmless path component (the extension is kept: it picks
    the loader). Folders, ``..``, control characters and leading dots are dropped."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C")
    base = base.strip().lstrip(".")[:200]
    return base or "upload"


def trajectory_file(directory: Path, trajectory_id: str) -> Path | None:
    """The saved trajectory of this id (its file name without ``.json``), or None."""
    if not _TRAJECTORY_ID.match(trajectory_id):
        return None
    root = directory.resolve()
    path = (root / f"{trajectory_id}.json").resolve()
    return path if path.is_relative_to(root) and path.is_file() else None
