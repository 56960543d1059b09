"""GGPO training of the agent's policy (VimRAG §3.3).

Light parts (masks, segmentation, rewards) import without torch; the loss, policy and trainer import
torch/transformers lazily (``pip install 'vimrag[train]'``).

>>> from vimrag.train import ggpo_mask
>>> from vimrag.train.trainer import train_from_config      # doctest: +SKIP
"""

from __future__ import annotations

from vimrag.train.masks import answer_path_nodes, ggpo_mask, valuable_nodes
from vimrag.train.rewards import make_reward
from vimrag.train.segment import segment_trajectory, tokenize_step

__all__ = [
    "answer_path_nodes",
    "ggpo_mask",
    "make_reward",
    "segment_trajectory",
    "tokenize_step",
    "train_from_config",
    "valuable_nodes",
]


def __getattr__(name: str):  # lazy: the trainer pulls torch
    if name == "train_from_config":
        from vimrag.train.trainer import train_from_config

        return train_from_config
    raise AttributeError(name)
