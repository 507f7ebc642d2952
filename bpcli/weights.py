"""The weights file format: named floating-point arrays (W1, b1, …) in an .npz, read without pickle.

Used for a run's weights, inside checkpoints, and for `model.init_from`. Every array read is checked
against the tensors a network needs (names, shapes, floating point, finite) before it is used.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

from bpcli.errors import RunError

Array = np.ndarray


def encode(arrays: dict[str, Array]) -> bytes:
    """The .npz bytes of `arrays` (uncompressed), ready for an atomic write."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def read_arrays(path: str | Path, what: str = "weights .npz") -> dict[str, Array]:
    """Every array of an .npz, read without pickle; a missing or corrupt file is a RunError."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{what} file not found: {path}")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise RunError(f"{path}: not a readable {what} ({error})") from None


def check_arrays(
    arrays: dict[str, Array], shapes: dict[str, tuple], origin, what: str, finite: bool = True
) -> None:
    """Refuse arrays that are not exactly the named tensors of `shapes`, floating point (and finite)."""
    if sorted(arrays) != sorted(shapes):
        raise RunError(
            f"{origin}: {what} holds {sorted(arrays)}, the network needs {sorted(shapes)}"
        )
    for name, array in arrays.items():
        if array.shape != shapes[name]:
            raise RunError(
                f"{origin}: '{name}' has shape {array.shape}, the network needs {shapes[name]}"
            )
        if not np.issubdtype(array.dtype, np.floating):
            raise RunError(f"{origin}: '{name}' is {array.dtype}, not floating point")
        if finite and not np.isfinite(array).all():
            raise RunError(f"{origin}: '{name}' holds NaN or inf", "start from finite weights")


def load_into(network, path: str | Path) -> None:
    """Copy the network's tensors from a weights file (a checkpoint's extra arrays are ignored),
    after checking each against the network."""
    arrays = read_arrays(path)
    shapes = {p.name: p.value.shape for p in network.parameters()}
    missing = [name for name in shapes if name not in arrays]
    if missing:
        raise RunError(f"{path}: no array '{missing[0]}'", f"the network needs {list(shapes)}")
    tensors = {name: arrays[name] for name in shapes}
    check_arrays(tensors, shapes, path, "the weights file")
    network.load_state(tensors)
