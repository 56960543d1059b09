"""Stores: the embedded LanceDB default and PostgreSQL + pgvector, chosen by URI (see ``factory``)."""

from vimrag.store.base import LogicQuery, ScoredId, SourceRecord, VectorStore

__all__ = ["LogicQuery", "ScoredId", "SourceRecord", "VectorStore"]
