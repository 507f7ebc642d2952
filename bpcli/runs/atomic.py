"""Atomic files: a temporary file in the same folder, then a rename, so readers see the old file or the
new one, never a mix. Every file bpcli writes (run files, pictures, predictions) goes through here.

A write that fails (disk full, read-only disk, no permission, I/O error) removes its temporary file,
leaves the old file as it was, and raises a StorageError naming the file and the reason (exit 2).
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

from bpcli.errors import StorageError, reason

TEMPORARY_SUFFIX = ".tmp"


@contextmanager
def atomic_file(path: Path, text: bool = False):
    """A stream whose file appears at `path` only if the block succeeds."""
    path = Path(path)
    _refuse_special(path)
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
        )
    except (OSError, ValueError) as error:
        raise StorageError(f"cannot write {path}: {reason(error)}") from None
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; files follow the umask
        options = {"mode": "w", "newline": "", "encoding": "utf-8"} if text else {"mode": "wb"}
        with os.fdopen(handle, **options) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        if error.filename not in (None, temporary, str(path)):
            raise  # about another file (an input read inside the block): not this write's problem
        raise StorageError(f"cannot write {path}: {reason(error)}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` atomically (see atomic_file)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_file(Path(path)) as stream:
        stream.write(payload)


def remove_temporaries(folder: Path, names) -> None:
    """Delete temporary files that an atomic write of one of `names` left (a killed process)."""
    for name in names:
        for leftover in folder.glob(f".{_glob_escape(name)}.*{TEMPORARY_SUFFIX}"):
            leftover.unlink(missing_ok=True)


def _refuse_special(path: Path) -> None:
    """A rename would replace a FIFO, a device or a folder at `path` (as root: /dev/null itself)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return  # missing (the usual case) or unreachable: mkstemp reports the real problem
    if not stat.S_ISREG(mode):
        raise StorageError(
            f"cannot write {path}: it exists and is not a regular file",
            "write to a new file name (or to stdout and redirect it)",
        )


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
