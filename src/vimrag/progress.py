"""One progress helper for long work (ingest, eval): a rich bar on stderr, a caller's callback, or nothing.

>>> with ProgressBar("ingest", True, total=3) as bar:   # doctest: +SKIP
...     for name in ("a.jpg", "b.pdf", "c.mp4"):
...         bar.start(name)                             # shows the file being worked on
...         ...                                         # the work
...         bar.advance()
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

#: ``callback(name, done, total)`` before each unit of work starts.
ProgressCallback = Callable[[str, int, int], None]


class ProgressBar:
    """``progress=True``: a bar on stderr (hidden when stderr is not a terminal and there is at most one
    unit); a callable: called with ``(name, done, total)`` as each unit starts; ``False``: nothing."""

    def __init__(self, label: str, progress: bool | ProgressCallback, total: int) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._callback = progress if callable(progress) else None
        self._enabled = progress is True and total > 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressBar:
        if self._enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn(f"[bold]{self.label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TimeRemainingColumn(), TextColumn("{task.description}"), console=Console(stderr=True),
                disable=not sys.stderr.isatty() and self.total < 2,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def start(self, name: str) -> None:
        """A unit of work begins (shown as the bar's description; the callback is told)."""
        if self._bar is not None:
            self._bar.update(self._task, description=name[:60])
        if self._callback is not None:
            self._callback(name, self.done, self.total)

    def advance(self) -> None:
        """A unit of work is finished."""
        self.done += 1
        if self._bar is not None:
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description="done")
            self._bar.__exit__(None, None, None)
