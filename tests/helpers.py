"""Helpers shared by the CLI tests: paths, the CliRunner, training a run, Rich-unwrapped output."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bpcli.commands import app

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
runner = CliRunner()


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone, for matching messages."""
    return " ".join(text.split())


def train(config: Path, out: Path, *overrides: str) -> Path:
    """Train CONFIG into the run folder OUT with `--set` overrides; returns OUT."""
    args = ["train", str(config), "--out", str(out), "--quiet"]
    for override in overrides:
        args += ["--set", override]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def npz_bytes(**arrays) -> bytes:
    """The bytes of an .npz holding `arrays` (uncompressed)."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy_declaring(shape: tuple, data: bytes = bytes(8)) -> bytes:
    """An .npy whose header declares a float64 array of `shape`, followed by just `data`."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + data


def zip_bomb(path: Path, name: str, shape: tuple, extra: dict | None = None) -> Path:
    """An .npz whose array `name` is `shape` float64 zeros, compressed (a few hundred KB expanding
    to the full size), plus the small `extra` arrays."""
    import math
    import zipfile

    import numpy as np

    size = math.prod(shape) * 8
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
            member.write(npy_declaring(shape, b""))
            block = bytes(2**22)
            for start in range(0, size, len(block)):
                member.write(block[: size - start])
        for key, array in (extra or {}).items():
            with archive.open(f"{key}.npy", "w") as member:
                np.lib.format.write_array(member, np.asarray(array))
    return path
