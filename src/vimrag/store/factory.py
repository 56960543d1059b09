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
    from vimrag.store.media import MediaBase

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


def workspace_location(kind: str, where: str, workspace: str) -> str:
    """Where a workspace's tables live inside the store at ``where`` (issue 17).

    ``default`` is the store itself, so stores made before workspaces open unchanged. Another name gets
    its own tables: the folder ``<folder>/workspaces/NAME`` (its own LanceDB tables, index and media) or,
    on PostgreSQL, the schema ``<schema>_NAME`` (its own tables, statistics and indexes). Nothing is shared,
    so no search, removal or count can cross workspaces.
    """
    from vimrag.config import DEFAULT_WORKSPACE

    if workspace == DEFAULT_WORKSPACE:
        return where
    if kind == "lance":
        return str(Path(where) / "workspaces" / workspace)
    from vimrag.store.postgres_schema import with_schema

    return with_schema(where, lambda schema: f"{schema}_{workspace}")


def workspaces(config: Config) -> list[str]:
    """The workspaces that exist in the configured store (``default`` first when it holds anything)."""
    from vimrag.config import DEFAULT_WORKSPACE

    kind, where = locate(config.store.uri)
    if kind == "lance":
        root = Path(where)
        names = sorted(p.name for p in (root / "workspaces").glob("*") if (p / "db").is_dir())
        return ([DEFAULT_WORKSPACE] if (root / "db").is_dir() else []) + names
    from vimrag.store.postgres import list_workspaces

    return list_workspaces(where)


def open_store(uri: str | None = None, config: Config | None = None) -> VectorStore:
    """Open (creating if needed) the store at ``uri`` (default: ``config.store.uri``, else ``./.vimrag``),
    in the workspace ``config.store.workspace``."""
    if uri is None and config is not None:
        uri = config.store.uri
    kind, where = locate(uri)
    if config is not None:
        where = workspace_location(kind, where, config.store.workspace)
    polar = config.polar if config is not None else None
    if kind == "postgres":
        from vimrag.store.postgres import PostgresStore

        return PostgresStore(where, polar=polar)
    from vimrag.store.lance import LanceStore

    return LanceStore(where, polar=polar)


def open_media(config: Config) -> MediaBase:
    """Where a store's thumbnails and keyframes live (``vimrag.store.media``): ``store.media_uri`` (any fsspec URL),
    else ``store.media_dir``; an embedded store's folder; a PostgreSQL store's own schema, so that every
    process that reaches the database can show them (older stores' cache folder still read)."""
    from vimrag.store.media import FolderMedia, FsspecMedia

    thumb = (config.ingest.thumb_px, config.ingest.thumb_quality)
    if config.store.media_uri:
        return FsspecMedia(config.store.media_uri, *thumb)
    kind, where = locate(config.store.uri)
    if kind == "postgres" and not config.store.media_dir:
        from vimrag.store.postgres_media import PostgresMedia

        return PostgresMedia(workspace_location(kind, where, config.store.workspace), *thumb,
                             legacy=media_dir(config))
    return FolderMedia(media_dir(config), *thumb)


def media_dir(config: Config) -> Path:
    """The local media folder of a store: ``store.media_dir`` if set; beside an embedded store
    (``<folder>/media``, whatever the URI spelling); else the user cache, one folder per server URI (where
    a PostgreSQL store's media were kept before they moved into the database, and where uploads go)."""
    if config.store.media_dir:
        return Path(config.store.media_dir).expanduser()
    kind, where = locate(config.store.uri)
    where = workspace_location(kind, where, config.store.workspace)
    if kind == "lance":
        return Path(where) / "media"
    digest = hashlib.sha1(where.encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "vimrag" / "media" / digest
