"""The agent methods and their registry: one module per method, chosen by name.

``vimrag`` (graph_memory.py) is the paper's memory graph; ``react`` and ``summary`` are its two baselines
(VimRAG §2); ``rag`` is one-call retrieval-augmented answering (the floor, and the fast mode). :data:`METHODS` is the one list of names the CLI, the eval harness and training use. To add
a method, write a module here with a class following :class:`~vimrag.agent.methods.base.AgentMethod`
and add it to ``_REGISTRY``.
"""

from __future__ import annotations

from collections.abc import Callable

from vimrag.agent.methods.base import AgentMethod
from vimrag.agent.methods.graph_memory import VimRAGMethod
from vimrag.agent.methods.rag import RagMethod
from vimrag.agent.methods.react import ReActMethod
from vimrag.agent.methods.summary import SummaryMethod
from vimrag.errors import ConfigError

_REGISTRY: dict[str, Callable[[], AgentMethod]] = {
    cls.name: cls for cls in (VimRAGMethod, ReActMethod, SummaryMethod, RagMethod)
}
METHODS: tuple[str, ...] = tuple(_REGISTRY)


def make_method(name: str) -> AgentMethod:
    """A fresh method instance (methods keep per-question state, e.g. ReAct's history)."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ConfigError(f"unknown agent method {name!r}; choose one of: {', '.join(METHODS)}") from None


__all__ = ["METHODS", "AgentMethod", "make_method"]
