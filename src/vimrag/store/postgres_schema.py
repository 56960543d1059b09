"""The PostgreSQL store's schema: tables and indexes (``S.`` stands for the store's own schema), the
column order of item rows, and the ``schema=`` parameter we take out of the URI before libpq sees it."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from vimrag.errors import StoreError

COLUMNS = ("id", "source", "source_hash", "modality", "locator", "text", "concepts", "has", "not_has",
         "uncertain", "entities", "media", "vector", "meta")
COPY_TYPES = ["text", "text", "text", "text", "jsonb", "text", "jsonb", "int4[]", "int4[]", "int4[]",
               "text[]", "text", "vector", "jsonb"]


def split_schema(uri: str) -> tuple[str, str]:
    """Take our own ``schema=`` query parameter out of the URI (libpq would reject it)."""
    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    schema = "vimrag"
    kept = []
    for k, v in query:
        if k == "schema":
            schema = v
        else:
            kept.append((k, v))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
        raise StoreError(f"invalid schema name {schema!r} in store URI")
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(kept))), schema


def in_schema(sql: str, schema: str) -> str:
    """``sql`` with ``S.`` (the placeholder every statement of the PostgreSQL backend uses) naming ``schema``."""
    return sql.replace("S.", f"{schema}.")


def with_schema(uri: str, name: Callable[[str], str]) -> str:
    """The URI with its ``schema=`` replaced by ``name(current schema)`` (a workspace's own schema)."""
    conninfo, schema = split_schema(uri)
    new = name(schema)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", new):
        raise StoreError(f"invalid schema name {new!r} (at most 63 letters, digits and underscores)")
    parts = urllib.parse.urlsplit(conninfo)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + [("schema", new)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


#: Tables every store has (created under the schema lock when a store is first opened).
BASE_TABLES = (
    "CREATE TABLE IF NOT EXISTS S.meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS S.sources (source text PRIMARY KEY, source_hash text NOT NULL, "
    "n_items int NOT NULL, meta jsonb NOT NULL DEFAULT '{}')",
    "CREATE TABLE IF NOT EXISTS S.vocab (id serial PRIMARY KEY, name text UNIQUE NOT NULL)",
    "CREATE TABLE IF NOT EXISTS S.concept_count (concept int4 PRIMARY KEY, "
    "n_has bigint NOT NULL DEFAULT 0, n_not_has bigint NOT NULL DEFAULT 0, "
    "n_uncertain bigint NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS S.cache (key text PRIMARY KEY, score float8 NOT NULL)",
    # BM25 document frequencies of the lexical channel, kept in the same transactions as the items
    "CREATE TABLE IF NOT EXISTS S.lex_df (term text PRIMARY KEY, df bigint NOT NULL)",
    # the sources each committed write replaced or removed, in commit order (vimrag.store.postgres_index)
    "CREATE TABLE IF NOT EXISTS S.changes (seq bigserial PRIMARY KEY, source text NOT NULL)",
    "INSERT INTO S.meta VALUES ('n_dup', '0'), ('n_rows', '0'), ('lex_total', '0') ON CONFLICT DO NOTHING",
    # tells this store from one made again under the same schema (a saved in-process index is not reused)
    "INSERT INTO S.meta VALUES ('store_id', gen_random_uuid()::text) ON CONFLICT DO NOTHING",
)


def items_ddl(dim: int) -> tuple[str, ...]:
    """The items table (created on the first write, once the vector dimension is known) and its indexes:
    B-tree on id, GIN on the HAS / NOT_HAS concept arrays (the logic tiers are planned from them)."""
    return (
        f"""CREATE TABLE IF NOT EXISTS S.items (
            id text NOT NULL, source text NOT NULL, source_hash text NOT NULL, modality text NOT NULL,
            locator jsonb NOT NULL, text text NOT NULL, concepts jsonb NOT NULL,
            has int4[] NOT NULL, not_has int4[] NOT NULL, uncertain int4[] NOT NULL,
            entities text[] NOT NULL, media text, vector vector({int(dim)}) NOT NULL, meta jsonb NOT NULL,
            PRIMARY KEY (source, id))""",
        "CREATE INDEX IF NOT EXISTS items_id ON S.items (id)",
        "CREATE INDEX IF NOT EXISTS items_has ON S.items USING gin (has) WITH (fastupdate = off)",
        "CREATE INDEX IF NOT EXISTS items_not_has ON S.items USING gin (not_has) WITH (fastupdate = off)",
        *LEXICAL_DDL,
    )


#: The lexical channel (:mod:`vimrag.index.lexical`): each item's BM25 terms as a ``tsvector`` whose positions
#: count occurrences (tf), its length in tokens, and a GIN index for ``@@``. Also run on stores created before
#: the channel existed (rows are then backfilled once).
LEXICAL_DDL = (
    "ALTER TABLE S.items ADD COLUMN IF NOT EXISTS lex tsvector",
    "ALTER TABLE S.items ADD COLUMN IF NOT EXISTS lex_len int4 NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS items_lex ON S.items USING gin (lex)",
)
