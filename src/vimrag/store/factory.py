"""Choose a store backend from a URI (DESIGN §3), importing its heavy dependencies only when chosen.

* a folder path (default ``./.vimrag``, also ``lance:PATH`` / ``file://PATH``) → :class:`LanceStore`,
  embedded, no server;
* ``postgresql://...`` or ``postgres://...`` → :class:`PostgresStore` (pgvector; Citus optional).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from vimrag.errors import ConfigError
from vimrag.store.base import VectorStore

if TYPE_CHECKING:
    from vimrag.config import Config

_ACCEPTED = ("a folder path such as ./.vimrag (embedded LanceDB), lance:PATH, file://PATH, "
             "or postgresql://user@host:port/db (PostgreSQL + pgvector)")


def locate(uri: str | None) -> tuple[str, str]:
    """``("lance", folder)`` or ``("postgres", uri)`` for a store URI; one parser for the store and its media."""
    uri = str(uri if uri is not None else "./.vimrag").strip()
    if uri.startswith(("postgresql://", "postgres://")):
        return "postgres", uri
    if uri.startswith("lance:"):
        return "lance", uri[len("lance:"):]
    if uri.startswith("file://"):
        return "lance", uri[len("file://"):]
    if not uri or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri):
        raise ConfigError(f"unsupported store URI {uri!r}; use {_ACCEPTED}")
    return "lance", uri


def open_store(uri: str | None = None, config: Config | None = None) -> VectorStore:
    """Open (creating if needed) the store at ``uri`` (default: ``config.store.uri``, else ``./.vimrag``)."""
    if uri is None and config is not None:
        uri = config.store.uri
    kind, where = locate(uri)
    polar = config.polar if config is not None else None
    if kind == "postgres":
        from vimrag.store.postgres import PostgresStore

        return PostgresStore(where, polar=polar)
    from vimrag.store.lance import LanceStore

    return LanceStore(where, polar=polar)


def media_dir(config: Config) -> Path:
    """Where a store's thumbnails and keyframes live: ``store.media_dir`` if set; beside an embedded store
    (``<folder>/media``, whatever the URI spelling); else the user cache, one folder per server URI."""
    if config.store.media_dir:
        return Path(config.store.media_dir).expanduser()
    kind, where = locate(config.store.uri)
    if kind == "lance":
        return Path(where) / "media"
    digest = hashlib.sha1(where.encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "vimrag" / "media" / digest
