"""Expand the paths given to ``vimrag ingest`` into the files to ingest.

Rules: folders are walked recursively in sorted order (deterministic ingest and ids); hidden folders and
files (``.git``, ``.vimrag``) and the store's own folder are skipped; symbolic links are followed **inside
the given folders only** (a link to ``/etc`` from a corpus folder is reported and skipped unless
``follow_outside`` is set), and a folder reached twice (a link loop or a second link to the same place)
is walked once and reported; files named explicitly are
always kept (an unsupported one is then reported by :func:`vimrag.ingest.registry.loader_for`), while inside
folders only files whose extension or content a loader recognises are kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from vimrag.ingest.registry import sniff, supported_extensions


def _recognised(path: Path, exts: frozenset[str]) -> bool:
    if path.suffix.lower() in exts:
        return True
    if path.suffix:  # a known-unsupported extension (.py, .json, .zip): not for us
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return bool(head) and sniff(head) is not None


def discover(
    paths: Iterable[str | Path],
    *,
    exclude: Iterable[str | Path] = (),
    on_skip: Callable[[Path, str], None] | None = None,
    follow_outside: bool = False,
) -> list[Path]:
    """Files to ingest under ``paths`` (see module doc), de-duplicated, in a stable sorted order.

    ``exclude`` lists folders never entered (pass the store folder). ``on_skip(path, reason)`` hears about
    every file or folder left out, for a verbose CLI.
    """
    exts = frozenset(supported_extensions())
    excluded = {Path(e).resolve() for e in exclude}
    roots: list[Path] = []

    def inside(real: Path) -> bool:
        return follow_outside or any(real == r or real.is_relative_to(r) for r in roots)
    seen_dirs: set[Path] = set()
    found: dict[Path, Path] = {}

    def skip(p: Path, why: str) -> None:
        if on_skip is not None:
            on_skip(p, why)

    def walk(d: Path) -> None:
        real = d.resolve()
        if real in seen_dirs:
            skip(d, "folder already visited (symlink loop or duplicate)")
            return
        if real in excluded:
            skip(d, "store folder")
            return
        seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            skip(d, f"cannot list folder: {exc}")
            return
        for e in entries:
            p = Path(e.path)
            if e.name.startswith("."):
                skip(p, "hidden")
                continue
            try:
                if e.is_symlink() and not inside(p.resolve()):
                    skip(p, f"link leads outside the given folders (to {p.resolve()})")
                    continue
                if e.is_dir(follow_symlinks=True):
                    walk(p)
                elif e.is_file(follow_symlinks=True):
                    if _recognised(p, exts):
                        found.setdefault(p.resolve(), p)
                    else:
                        skip(p, "unsupported format")
                else:
                    skip(p, "not a regular file (broken link, socket, device)")
            except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop while resolving
                skip(p, f"cannot stat: {exc}")

    given = [Path(raw) for raw in paths]
    roots.extend(p.resolve() for p in given if p.is_dir())
    for p in given:
        if p.is_dir():
            walk(p)
        else:
            found.setdefault(p.resolve() if p.exists() else p.absolute(), p)
    return sorted(found.values(), key=lambda q: str(q))
