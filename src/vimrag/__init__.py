"""vimrag: multimodal retrieval-augmented reasoning with graph memory.

Public API: :class:`Memory` (PolarMem long-term memory), :class:`Agent` (VimRAG agent), :class:`Config`.
"""

from vimrag.ask import Agent
from vimrag.config import Config, load_config
from vimrag.memory import IngestReport, Memory
from vimrag.types import Item, Locator, LogicState, Modality, Polarity, SearchHit, SearchResult

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Config",
    "IngestReport",
    "Item",
    "Locator",
    "LogicState",
    "Memory",
    "Modality",
    "Polarity",
    "SearchHit",
    "SearchResult",
    "load_config",
    "__version__",
]
