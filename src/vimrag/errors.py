"""Errors that reach users. Each one says what went wrong and what fixes it."""

from __future__ import annotations


class VimragError(Exception):
    """Base class: a failure we anticipated and can explain."""


class MissingExtraError(VimragError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class ModelUnavailableError(VimragError):
    """A model file is missing, corrupt (sha256 mismatch) or cannot be loaded."""


class ServerUnreachableError(VimragError):
    """A model server did not answer within the configured timeout and retries."""


class ConfigError(VimragError):
    """A configuration value is malformed or inconsistent."""


class StoreError(VimragError):
    """The memory store cannot be opened, written or read."""


class TrajectoryError(VimragError, ValueError):
    """A trajectory (file or JSON) is missing, not JSON, or does not follow the version-1 schema (missing
    nodes or steps, dangling parent ids). Serving, ``vimrag show`` and GGPO training read the same format."""


class IngestError(VimragError):
    """One file could not be ingested (corrupt, unsupported, empty, encrypted). Other files go on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
