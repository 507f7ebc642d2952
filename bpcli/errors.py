"""User-facing errors: what went wrong, where, and what is allowed. The CLI maps them to exit codes."""

from __future__ import annotations


class BpcliError(Exception):
    """A mistake in the user's input; shown as one message without a traceback (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} - {self.hint}" if self.hint else self.message


class ConfigError(BpcliError):
    """The YAML config or a --set override is invalid."""


class DataError(BpcliError):
    """A data file or built-in dataset cannot be used for this model."""


class RunError(BpcliError):
    """A run folder or weights file is missing, incomplete or corrupt."""


class Interrupted(BpcliError):
    """A stop signal ended the work early, leaving a state to resume from (exit 128 + signal).
    Shown as a note with the command that continues, not as an error."""


class MissingExtra(BpcliError):
    """An optional dependency is not installed (exit code 2); the message says what to install."""


class StorageError(BpcliError):
    """A file could not be written or read: disk full, read-only disk, no permission, I/O error."""


def reason(error: BaseException) -> str:
    """The short reason of an OS error ('No space left on device'), else the error's text."""
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)
