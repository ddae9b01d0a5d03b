"""qtrade's exceptions: one base class, which the command line turns into a one-line message."""

from __future__ import annotations

__all__ = ["CheckpointError", "ConfigError", "DataError", "QtradeError"]


class QtradeError(Exception):
    """Base class of every error qtrade raises on purpose.

    The message is one line that names the problem and the fix; the command line prints it and exits with 1.
    """


class DataError(QtradeError):
    """Market data that cannot be read or fails validation."""


class ConfigError(QtradeError):
    """Settings that contradict each other or the data."""


class CheckpointError(QtradeError):
    """A model checkpoint that is missing, corrupt or made for other data."""
