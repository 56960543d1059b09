"""Choose a store backend from a URI (DESIGN §3), importing its heavy dependencies only when chosen.

* a folder path (default ``./.vimrag``, also ``lance:PATH`` / ``file://PATH``) → :class:`LanceStore`,
  embedded, no server;
* ``postgresql://...`` or ``postgres://...`` → :class:`PostgresStore` (pgvector; Citus optional).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from vimrag.errors import ConfigError
from vimrag.store.base import VectorStore

if TYPE_CHECKING:
    from vimrag.config import Config

_ACCEPTED = ("a folder path such as ./.vimrag (embedded LanceDB), lance:PATH, file://PATH, "
             "or postgresql://user@host:port/db (PostgreSQL + pgvector)")


def open_store(uri: str | None = None, config: Config | None = None) -> VectorStore:
    """Open (creating if needed) the store at ``uri`` (default: ``config.store.uri``, else ``./.vimrag``)."""
    if uri is None:
        uri = config.store.uri if config is not None else "./.vimrag"
    uri = str(uri).strip()
    polar = config.polar if config is not None else None
    if uri.startswith(("postgresql://", "postgres://")):
        from vimrag.store.postgres import PostgresStore

        return PostgresStore(uri, polar=polar)
    if uri.startswith("lance:"):
        uri = uri[len("lance:"):]
    elif uri.startswith("file://"):
        uri = uri[len("file://"):]
    elif not uri or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", uri):
        raise ConfigError(f"unsupported store URI {uri!r}; use {_ACCEPTED}")
    from vimrag.store.lance import LanceStore

    return LanceStore(uri, polar=polar)
