"""Silence third-party INFO chatter (model paths, engine names, weight-loading bars) on the console.

Some packages (rapid_layout, rapidocr) create loggers at INFO with their own handlers, so configuring the
root logger does not reach them; we lower each such logger to WARNING right after its models load.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

_PREFIXES = ("rapid_layout", "RapidLayout", "rapidocr", "RapidOCR", "sentence_transformers", "transformers")


def quiet_third_party_logs(level: int = logging.WARNING, prefixes: tuple[str, ...] = _PREFIXES) -> None:
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith(prefixes):
            logger = logging.getLogger(name)
            logger.setLevel(max(logger.level, level))
            for handler in logger.handlers:
                handler.setLevel(max(handler.level, level))


@contextlib.contextmanager
def hub_offline(**extra: str) -> Iterator[None]:
    """Hugging Face libraries offline for the duration of a load, then the environment as it was.

    A local folder must never trigger a hub lookup: the hub is unreachable here and a lookup would hang
    on DNS or connect timeouts instead of failing. Scoped, so a program that embeds vimrag keeps its own
    settings outside our loads.
    """
    values = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Around a model load: no INFO records (they are emitted inside constructors, before any logger
    could be lowered), no native-library lines on stderr, no weight-loading progress bars, and no hub."""
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        with hub_offline(HF_HUB_DISABLE_PROGRESS_BARS="1"), _native_stderr_silenced():
            yield
    finally:
        logging.disable(previous)
        quiet_third_party_logs()


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Redirect file descriptor 2 (C/C++ libraries print there directly) to /dev/null for the duration."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # pytest capture or no real stderr: nothing to do
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
