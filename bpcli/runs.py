"""The run folder: config.yaml, weights.npz, preprocess.json, metrics.csv, summary.json.

Every file is written atomically (a temporary file in the same folder, then a rename), and weights
are read with allow_pickle=False, so a run folder is never half-written and never executes code.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np

from bpcli.errors import RunError

# The files `bpcli train` writes (diagnostics.csv only with training.diagnostics on); checkpoint.npz
# is the checkpoint module's.
RUN_FILES = (
    "config.yaml",
    "weights.npz",
    "preprocess.json",
    "metrics.csv",
    "summary.json",
    "diagnostics.csv",
)


@contextmanager
def atomic_file(path: Path, text: bool = False):
    """A stream whose file appears at `path` only if the block succeeds: readers see the old file or
    the new one, never a mix (a temporary file in the same folder, then a rename)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; run files follow the umask
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
    with atomic_file(path) as stream:
        stream.write(payload)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_run_dir(output_dir: str | Path, name: str, out: str | Path | None, force: bool) -> Path:
    """Create the run folder: `out` exactly, or <output_dir>/<name>-<timestamp>[-N]."""
    if out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise RunError(f"--out {path}: exists and is not a folder")
        if path.is_dir() and any(path.iterdir()) and not force:
            raise RunError(
                f"--out {path}: folder exists and is not empty", "use --force to overwrite"
            )
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path(output_dir) / f"{name}-{stamp}"
        suffix = 2
        while path.exists():
            path = Path(output_dir) / f"{name}-{stamp}-{suffix}"
            suffix += 1
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-")
        probe.close()
    except OSError as error:
        raise RunError(f"cannot write the run folder {path}: {error.strerror}") from None
    return path


def save_weights(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, buffer.getvalue())


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of a weights .npz (W1, b1, …), read without pickle; corrupt files are RunErrors."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"weights file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise RunError(f"{path}: not a readable weights .npz ({error})") from None


def load_weights_into(network, path: str | Path) -> None:
    """Copy a weights file into `network`, checking that every tensor is there with its shape."""
    arrays = load_weights(path)
    for p in network.parameters():
        if p.name not in arrays:
            raise RunError(
                f"{path}: no array '{p.name}'", f"the network needs {list(network.state())}"
            )
        if arrays[p.name].shape != p.value.shape:
            raise RunError(
                f"{path}: '{p.name}' has shape {arrays[p.name].shape}, the network needs {p.value.shape}"
            )
        if not np.issubdtype(arrays[p.name].dtype, np.floating):
            raise RunError(f"{path}: '{p.name}' is {arrays[p.name].dtype}, not floating point")
        if not np.isfinite(arrays[p.name]).all():
            raise RunError(f"{path}: '{p.name}' holds NaN or inf", "start from finite weights")
    network.load_state(arrays)


def metrics_csv(epochs: list[dict]) -> str:
    columns = list(dict.fromkeys(key for record in epochs for key in record))
    stream = io.StringIO()
    writer = csv.DictWriter(stream, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(epochs)
    return stream.getvalue()


def read_metrics(run_dir: str | Path) -> list[dict[str, str]]:
    """The rows of a run's metrics.csv, as written by `metrics_csv` (cells are strings)."""
    path = Path(run_dir) / "metrics.csv"
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            records = list(csv.DictReader(stream))
    except FileNotFoundError:
        raise RunError(
            f"{path.parent} is not a complete run folder: metrics.csv is missing"
        ) from None
    except (csv.Error, ValueError, UnicodeDecodeError) as error:
        raise RunError(f"{path}: not a readable metrics file ({error})") from None
    if records and "epoch" not in records[0]:
        raise RunError(f"{path}: has no 'epoch' column")
    return records


def write_json(path: Path, document: dict) -> None:
    atomic_write(path, json.dumps(document, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(
            f"{path.parent} is not a complete run folder: {path.name} is missing"
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise RunError(f"{path}: not valid JSON ({error})") from None


def save_run(run_dir: Path, experiment, history, metrics: dict, wall_time: float) -> dict:
    """Write every file of a finished run; returns the summary."""
    from bpcli import __version__
    from bpcli.config import to_yaml

    config, network = experiment.config, experiment.network
    summary = {
        "name": config.name,
        "run_dir": str(run_dir),
        "task": experiment.task,
        "epochs_run": len(history.epochs),
        "best_epoch": history.best_epoch,
        "stopped_early": history.stopped_early,
        "wall_time_s": round(wall_time, 3),
        "parameters": network.parameter_count(),
        "metrics": metrics,
        "config_hash": config.digest(),
        "versions": versions(),
    }
    summary["versions"]["bpcli"] = __version__
    atomic_write(run_dir / "config.yaml", to_yaml(config))
    save_weights(run_dir / "weights.npz", network.state())
    write_json(run_dir / "preprocess.json", experiment.data.preprocess.__dict__)
    atomic_write(run_dir / "metrics.csv", metrics_csv(history.epochs))
    write_json(run_dir / "summary.json", summary)
    return summary


def versions() -> dict:
    import platform

    return {"python": platform.python_version(), "numpy": np.__version__, "blas": blas_name()}


def blas_name() -> str:
    """The BLAS library numpy is linked against, as numpy reports it."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}".strip()
    except Exception:  # numpy < 1.26 has no mode="dicts": the name is then unknown, not fatal
        return "unknown"


class LoadedRun:
    """A saved run, ready to predict: its config, preprocessing and network."""

    def __init__(self, run_dir: str | Path):
        from bpcli.config import read_config, validate
        from bpcli.data import Preprocess
        from bpcli.network import MLP

        self.path = Path(run_dir)
        if not self.path.is_dir():
            raise RunError(f"run folder not found: {self.path}")
        config_path = self.path / "config.yaml"
        if not config_path.is_file():
            raise RunError(
                f"{self.path} is not a run folder (it has no config.yaml)",
                "pass a folder written by bpcli train",
            )
        self.config = validate(*read_config(config_path))
        self.preprocess = Preprocess(**read_json(self.path / "preprocess.json"))
        self.summary = read_json(self.path / "summary.json")
        model, dtype = self.config.model, np.dtype(self.config.training.dtype)
        widths = [len(self.preprocess.feature_names), *model.hidden, self.preprocess.outputs]
        # Initial values are placeholders: every tensor is then checked and replaced from the file.
        self.network = MLP.build(
            widths,
            model.activation,
            model.output_activation,
            "he_normal",
            np.random.default_rng(0),
            dtype,
        )
        load_weights_into(self.network, self.path / "weights.npz")
