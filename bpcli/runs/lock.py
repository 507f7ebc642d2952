"""An exclusive write lock on a folder: `flock` on a lock file inside it, which holds the writer's pid.

A second writer is refused at once (it never waits), with a RunError naming the holder's pid. The
kernel drops the lock when the holder's process ends, however it ends (SIGKILL too), so a lock file
left behind never blocks anyone. The holder removes the file when it releases the lock; a process
that locked a file just removed (it opened it before) notices that the path no longer names the file
it holds, and tries again. Where `fcntl` does not exist (Windows), folders are not locked.
"""

from __future__ import annotations

import os
from pathlib import Path

from bpcli.errors import RunError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

ATTEMPTS = 5


class FolderLock:
    """The lock file at `path`; `acquire` then `release` (which removes the file)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, what: str) -> None:
        """Hold the lock, or RunError ("<what> is in use ... pid N"); OSError if it cannot be made."""
        if fcntl is None or self.held:
            return
        for _ in range(ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                raise RunError(
                    f"{what} is in use by another bpcli process (pid {holder})",
                    "wait until it finishes, or stop it; two processes never write one run",
                ) from None
            if _names_same_file(fd, self.path):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
                return
            os.close(fd)  # the holder removed this file as we locked it: lock the new one
        raise RunError(f"{what}: could not take its lock after {ATTEMPTS} attempts")

    def release(self) -> None:
        """Remove the lock file, then drop the lock (in that order: see the module docstring)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only or vanished folder: the kernel still drops the lock below
        os.close(self._fd)
        self._fd = None


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


def _names_same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
