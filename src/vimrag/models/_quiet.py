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


def quiet_third_party_logs(level: int = logging.WARNING) -> None:
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith(_PREFIXES):
            logger = logging.getLogger(name)
            logger.setLevel(max(logger.level, level))
            for handler in logger.handlers:
                handler.setLevel(max(handler.level, level))


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Around a model load: no INFO records (they are emitted inside constructors, before any logger
    could be lowered), no native-library lines on stderr, and no weight-loading progress bars."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        with _native_stderr_silenced():
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
