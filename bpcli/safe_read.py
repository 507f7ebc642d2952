"""Reading files that may be hostile or damaged: regular files only, sizes checked before allocating.

A FIFO, a device or a folder in place of a file is refused at once (it is opened non-blocking, then
checked with fstat: no hang, no race). `.npy`/`.npz` arrays are read without pickle, and every array's
header (shape, dtype) is read and checked first: a header that declares more bytes than the file
holds, an object array, or arrays larger than this machine's memory are refused before anything is
allocated; a caller that knows which arrays it needs (weights, checkpoints) checks their names and
shapes from the headers, so a compressed "zip bomb" is never expanded. Every problem is raised as the
caller's error class (DataError for data, RunError for run files), naming the file.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpcli.errors import reason

MAX_HEADER_BYTES = 1_000_000
"""An .npy header longer than this is refused (numpy writes a few hundred bytes)."""

CORRUPT = (
    ValueError,
    EOFError,
    KeyError,
    OSError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    NotImplementedError,
    OverflowError,
)
"""What numpy and zipfile raise for truncated, corrupt or unsupported bytes."""

_KINDS = {
    stat.S_ISDIR: "a folder",
    stat.S_ISFIFO: "a FIFO (named pipe)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


def open_regular(path: str | Path, error: type[Exception], what: str, max_bytes: int | None = None):
    """A binary stream of the regular file at `path`; anything else is `error` naming the file.

    Opened with O_NONBLOCK, so a FIFO never waits for a writer; then fstat decides on the open file
    itself (no check-then-open race). `max_bytes` bounds the file size.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except (OSError, ValueError) as problem:  # ENAMETOOLONG, EACCES, ELOOP; ValueError: a NUL byte
        raise error(f"{path}: cannot open the {what} ({reason(problem)})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS.items() if test(info.st_mode)), "a special file")
        raise error(f"{path}: the {what} is {kind}, not a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        os.close(fd)
        raise error(
            f"{path}: the {what} has {info.st_size} bytes, more than the {max_bytes} allowed"
        )
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_text(path: str | Path, error: type[Exception], what: str, max_bytes: int) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes` bytes."""
    with open_regular(path, error, what, max_bytes) as stream:
        data = stream.read()  # its size was checked; read(n) would allocate n bytes up front
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise error(f"{path}: the {what} is not UTF-8 text ({problem.reason})") from None


def physical_memory() -> int | None:
    """This machine's RAM in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(nbytes: int, error: type[Exception], what: str, hint: str | None = None):
    """`error` when `nbytes` exceed this machine's memory: refuse before allocating."""
    memory = physical_memory()
    if memory is not None and nbytes > memory:
        raise error(
            f"{what} needs {nbytes / 2**30:.3g} GiB, more than this machine's memory "
            f"({memory / 2**30:.3g} GiB)",
            hint,
        )


# ---------------------------------------------------------------------------- .npy / .npz


@dataclass(frozen=True)
class ArrayHeader:
    """What an .npy header declares: the array's shape and dtype (and so its size in bytes)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _read_header(stream) -> ArrayHeader:
    version = np.lib.format.read_magic(stream)
    reader = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }.get(version)
    if reader is None:
        raise ValueError(f".npy format version {version} is not supported")
    shape, _, dtype = reader(stream, max_header_size=MAX_HEADER_BYTES)
    return ArrayHeader(tuple(shape), dtype)


def _check_header(header: ArrayHeader, stored: int, name: str | None) -> None:
    """ValueError (reported as an unreadable file) for an object array or a header that declares
    more bytes than the file holds."""
    label = f"array '{name}'" if name is not None else "the array"
    if header.dtype.hasobject:
        raise ValueError(f"{label} holds Python objects, which would need pickle: refused")
    if header.nbytes > stored:
        raise ValueError(
            f"{label} declares shape {header.shape} ({header.nbytes} bytes) but the file holds "
            f"{stored} bytes: truncated or corrupt"
        )


def read_npz(
    path: str | Path,
    error: type[Exception],
    what: str,
    check: Callable[[dict[str, ArrayHeader]], list[str]] | None = None,
) -> dict[str, np.ndarray]:
    """The arrays of an .npz, without pickle; headers are read and checked before any array.

    `check(headers)` may refuse (raise) and returns the names to read (default: all).
    """
    path = Path(path)
    with open_regular(path, error, what) as stream:
        try:
            with zipfile.ZipFile(stream) as archive:
                members = {}
                for info in archive.infolist():
                    with archive.open(info) as member:
                        header = _read_header(member)
                        stored = info.file_size - member.tell()
                    name = info.filename.removesuffix(".npy")
                    _check_header(header, stored, name)
                    members[name] = (info, header)
                headers = {name: header for name, (_, header) in members.items()}
                wanted = check(headers) if check else list(headers)
                total = sum(headers[name].nbytes for name in wanted)
                check_fits_in_memory(total, error, f"{path}: the {what}")
                return {name: _read_member(archive, members[name][0]) for name in wanted}
        except CORRUPT as problem:
            raise error(f"{path}: not a readable {what} ({reason(problem)})") from None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as member:
        array = np.lib.format.read_array(member, allow_pickle=False)
        if member.read(1):  # bytes after the array: a header that declares too little
            raise ValueError(f"array '{info.filename}' is followed by unread bytes")
    return array


def read_npy(path: str | Path, error: type[Exception], what: str, mmap: bool = False) -> np.ndarray:
    """The array of an .npy file, without pickle, its header checked first; memory-mapped with
    `mmap` (rows are then read as they are used)."""
    path = Path(path)
    with open_regular(path, error, what) as stream:
        try:
            header = _read_header(stream)
            offset = stream.tell()
            stored = os.fstat(stream.fileno()).st_size - offset
            _check_header(header, stored, None)
            if mmap:
                if header.nbytes == 0:
                    return np.empty(header.shape, header.dtype)
                return np.lib.format.open_memmap(path, mode="r")
            check_fits_in_memory(header.nbytes, error, f"{path}: the {what}")
            stream.seek(0)
            return np.lib.format.read_array(stream, allow_pickle=False)
        except CORRUPT as problem:
            raise error(f"{path}: not a readable {what} ({reason(problem)})") from None
