"""Atomic files: a temporary file in the same folder, then a rename, so readers see the old file or the
new one, never a mix. Every file bpcli writes (run files, pictures, predictions) goes through here.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_file(path: Path, text: bool = False):
    """A stream whose file appears at `path` only if the block succeeds."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; files follow the umask
        options = {"mode": "w", "newline": "", "encoding": "utf-8"} if text else {"mode": "wb"}
        with os.fdopen(handle, **options) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` atomically (see atomic_file)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_file(Path(path)) as stream:
        stream.write(payload)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
