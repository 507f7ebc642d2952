"""The weights file format: named floating-point arrays (W1, b1, …) in an .npz, read without pickle.

Used for a run's weights, inside checkpoints, and for `model.init_from`. Every array is checked
against the tensors a network needs (names and shapes from its header, before it is read; then
floating point, finite in the network's dtype) before it is used.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from bpcli.errors import RunError
from bpcli.safe_read import read_npz

Array = np.ndarray


def encode(arrays: dict[str, Array]) -> bytes:
    """The .npz bytes of `arrays` (uncompressed), ready for an atomic write."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def parameter_shapes(widths: list[int]) -> dict[str, tuple[int, ...]]:
    """The tensors of a network with layer widths [d, h1, …, k]: W_l (fan_in, fan_out), b_l (fan_out,)."""
    shapes = {}
    for number, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=False), start=1):
        shapes[f"W{number}"], shapes[f"b{number}"] = (fan_in, fan_out), (fan_out,)
    return shapes


def read_arrays(
    path: str | Path, what: str = "weights .npz", shapes: dict[str, tuple] | None = None
) -> dict[str, Array]:
    """The arrays of an .npz, read without pickle; a missing or corrupt file is a RunError.

    Given `shapes`, only those arrays are read, and each header is checked against its shape
    first: a wrong or oversized array is refused before it is expanded.
    """

    def wanted(headers) -> list[str]:
        if shapes is None:
            return list(headers)
        missing = [name for name in shapes if name not in headers]
        if missing:
            raise RunError(f"{path}: no array '{missing[0]}'", f"the network needs {list(shapes)}")
        for name, shape in shapes.items():
            check_shape(name, headers[name].shape, shape, path)
        return list(shapes)

    if not os.path.lexists(path):
        raise RunError(f"{what} file not found: {path}")
    return read_npz(path, RunError, what, wanted)


def check_shape(name: str, shape: tuple, needed: tuple, origin) -> None:
    if tuple(shape) != tuple(needed):
        raise RunError(f"{origin}: '{name}' has shape {tuple(shape)}, the network needs {needed}")


def check_arrays(
    arrays: dict[str, Array],
    shapes: dict[str, tuple],
    origin,
    what: str,
    finite: bool = True,
    dtype=None,
) -> None:
    """Refuse arrays that are not exactly the named tensors of `shapes`, floating point, and finite
    (once cast to `dtype`, the network's: 1e300 is finite in float64, inf in float32)."""
    if sorted(arrays) != sorted(shapes):
        raise RunError(
            f"{origin}: {what} holds {sorted(arrays)}, the network needs {sorted(shapes)}"
        )
    for name, array in arrays.items():
        check_shape(name, array.shape, shapes[name], origin)
        if not np.issubdtype(array.dtype, np.floating):
            raise RunError(f"{origin}: '{name}' is {array.dtype}, not floating point")
        if finite and not _finite_as(array, dtype or array.dtype):
            where = f" (as {np.dtype(dtype)})" if dtype is not None else ""
            raise RunError(
                f"{origin}: '{name}' holds NaN or inf{where}", "start from finite weights"
            )


def _finite_as(array: Array, dtype) -> bool:
    with np.errstate(over="ignore"):
        return bool(np.isfinite(array.astype(dtype, copy=False)).all())


def load_into(network, path: str | Path) -> None:
    """Copy the network's tensors from a weights file (a checkpoint's extra arrays are not read),
    after checking each against the network, finite in the network's dtype."""
    shapes = {p.name: p.value.shape for p in network.parameters()}
    tensors = read_arrays(path, shapes=shapes)
    check_arrays(tensors, shapes, path, "the weights file", dtype=network.dtype)
    network.load_state(tensors)
