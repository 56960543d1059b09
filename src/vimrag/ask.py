"""``Agent``: the public face of the VimRAG agent (and its ReAct / summary baselines) over a ``Memory``."""

from __future__ import annotations

from typing import Any

from vimrag.config import Config, load_config
from vimrag.memory import Memory, SharedEmbedder


class Agent:
    """Answers questions over a :class:`Memory` with one of three methods on the same code path.

    Example::

        from vimrag import Agent, Memory
        agent = Agent(Memory())
        result = agent.ask("Which photo shows a cup but no person?")
        print(result.answer, result.citations)
    """

    def __init__(self, memory: Memory | None = None, config: Config | None = None, *, llm: Any = None) -> None:
        self.config = config or (memory.config if memory is not None else load_config())
        self.memory = memory or Memory(self.config)
        self._llm = llm

    @property
    def llm(self) -> Any:
        # Not cached from the memory: Memory.close() frees the model it loaded, and the next use must get a
        # fresh one from memory.llm rather than the closed one.
        return self._llm if self._llm is not None else self.memory.llm

    def ask(self, question: str, method: str | None = None, *, on_step: Any = None) -> Any:
        """Run the agent; returns an ``AgentResult`` (answer, citations, steps, tokens, trajectory path).

        ``on_step(kind, payload)``, when given, hears each retrieve / memorize step as it ends (a live view)."""
        from vimrag.agent.loop import AgentLoop

        loop = AgentLoop(self.llm, self.memory, self.config, embedder=SharedEmbedder(self.memory))
        return loop.ask(question, method=method or self.config.agent.method, on_step=on_step)
