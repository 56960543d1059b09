"""Lazy imports of optional heavy dependencies with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from vimrag.errors import MissingExtraError


def require(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``pip install 'vimrag[extra]'``.

    Heavy dependencies (torch, llama.cpp, LanceDB, PyAV, ...) are imported only inside the backend that
    needs them, so ``import vimrag`` stays fast and a user of the OpenAI backend never needs torch.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - message path tested via a fake module name
        pkg = package or module.split(".")[0]
        raise MissingExtraError(
            f"{pkg} is required for this feature but is not installed ({exc}). "
            f"Install it with: pip install 'vimrag[{extra}]'"
        ) from exc
