"""The run folder and the sweep folder: the only module that knows their file names; every read and
write of their files.

    config.yaml       the resolved config              preprocess.json  feature/label preprocessing
    metrics.csv       one row per epoch                diagnostics.csv  gradient-flow rows (optional)
    checkpoint.npz    the last good training state     weights.npz      the final weights
    summary.json      final metrics, best epoch, versions
    curves.png, boundary.png   `bpcli plot`'s pictures, by default
    model.onnx        the exported model (bpcli export; optional)
    .bpcli-manifest.json       the files bpcli may write here: marks a folder bpcli made
    .bpcli.lock                held (flock) while a process writes the run, with its pid

Invariant: weights.npz and summary.json exist only once training finished; an interrupted or diverged
run holds config.yaml, preprocess.json, metrics.csv and checkpoint.npz, from which it resumes. Every
file is written atomically, weights are read without pickle, every file is read only if it is a
regular file, and checked. New run folders are created exclusively (two runs never share one), and
a writer holds the folder's lock. `--force` reuses only a folder whose manifest says bpcli made it,
and removes only the files that manifest lists.

A sweep folder (`bpcli sweep`) holds sweep.yaml (the resolved spec, which marks it), trials.csv (one
row per trial), summary.json (the best point, counts by status), sweep.png (`bpcli plot`) and
trials/<id>/, one run folder per trial. `--force` reuses only a sweep folder.
"""

from __future__ import annotations

import os
from datetime import datetime
from itertools import count
from pathlib import Path

from bpcli import __version__, weights
from bpcli.config import Config, load_config, read_config, to_yaml, validate
from bpcli.core.network import layer_widths
from bpcli.data.preprocess import Preprocess
from bpcli.errors import RunError, reason
from bpcli.runs import checkpoint, files
from bpcli.runs.atomic import atomic_write, remove_temporaries
from bpcli.runs.lock import FolderLock

CONFIG = "config.yaml"
PREPROCESS = "preprocess.json"
METRICS = "metrics.csv"
DIAGNOSTICS = "diagnostics.csv"
CHECKPOINT = "checkpoint.npz"
WEIGHTS = "weights.npz"
SUMMARY = "summary.json"
CURVES = "curves.png"
BOUNDARY = "boundary.png"
MANIFEST = ".bpcli-manifest.json"
LOCK = ".bpcli.lock"
RUN_FILES = (CONFIG, PREPROCESS, METRICS, DIAGNOSTICS, CHECKPOINT, WEIGHTS, SUMMARY)
ONNX_MODEL = "model.onnx"
DERIVED_FILES = (ONNX_MODEL,)
"""Made from a finished run's weights by other commands; removed when the weights change (a new run
in the folder with --force, a resumed run that finishes again), so they are never stale."""
OWN_FILES = (*RUN_FILES, *DERIVED_FILES, CURVES, BOUNDARY, LOCK)
"""Everything bpcli may write into a run folder (listed in its manifest, with the manifest)."""
SHIPPED = (*RUN_FILES, MANIFEST)
"""What a run folder trained on another machine (Ray) sends back."""
SWEEP_SPEC = "sweep.yaml"
TRIALS = "trials.csv"
TRIAL_DIRS = "trials"
SWEEP_PLOT = "sweep.png"


def new_run_dir(
    output_dir: str | Path, name: str, out: str | Path | None, force: bool, kind: type | None = None
) -> tuple[Path, bool]:
    """The run folder (or a sweep folder: `kind` SweepFolder) and whether this call created it:
    `out` exactly, or a new <output_dir>/<name>-<timestamp>[-N], created exclusively (the first N no
    other process took). An existing `out` must be empty, or made by bpcli with --force (see
    RunFolder.check_reusable, SweepFolder.check_reusable)."""
    try:
        if out is None:
            return _new_timestamped(Path(output_dir), name), True
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise RunError(f"--out {path}: exists and is not a folder")
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            (kind or RunFolder)(path).check_reusable(force)
            return path, False
        return path, True
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        where = out if out is not None else output_dir
        raise RunError(f"cannot write the run folder {where}: {reason(error)}") from None


def _new_timestamped(parent: Path, name: str) -> Path:
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise RunError(
            f"name '{name}': names the run folder, so it must not be empty, '.', '..' or hold a "
            "slash",
            "set name: to a plain word, or give the folder with --out",
        )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parent.mkdir(parents=True, exist_ok=True)
    for suffix in count(1):
        path = parent / (f"{name}-{stamp}" if suffix == 1 else f"{name}-{stamp}-{suffix}")
        try:
            path.mkdir()  # exclusive: of two processes making the same name, one gets an error
            return path
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def onnx_model_in(folder: str | Path) -> Path:
    """The exported model's file in `folder` (a run folder, or a folder given as `export -o`)."""
    return Path(folder) / ONNX_MODEL


class RunFolder:
    """A run folder on disk: its files by purpose, read and written atomically."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = FolderLock(self.path / LOCK)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def onnx_model(self) -> Path:
        """Where `bpcli export` writes the model unless told otherwise."""
        return onnx_model_in(self.path)

    @property
    def curves(self) -> Path:
        """Where `bpcli plot` draws this run's learning curves by default."""
        return self.path / CURVES

    @property
    def boundary(self) -> Path:
        """Where `bpcli plot --boundary` draws this run's decision regions by default."""
        return self.path / BOUNDARY

    @property
    def has_config(self) -> bool:
        return (self.path / CONFIG).is_file()

    @property
    def finished(self) -> bool:
        """True once training completed here (the final weights and summary are written)."""
        return (self.path / SUMMARY).is_file()

    def require(self, what: str = "run folder") -> RunFolder:
        """This folder, if it is a run folder; else a RunError saying what it is instead."""
        try:
            exists, is_dir = self.path.exists(), self.path.is_dir()
            has_config = (self.path / CONFIG).is_file()
        except (OSError, ValueError) as error:
            raise RunError(f"{what} {self.path}: {reason(error)}") from None
        if not exists:
            raise RunError(f"{what} not found: {self.path}")
        if not is_dir:
            raise RunError(
                f"{self.path} is a file, not a run folder",
                "pass a folder written by bpcli train",
            )
        if not has_config:
            raise RunError(
                f"{self.path} is not a run folder (it has no {CONFIG})",
                "pass a folder written by bpcli train",
            )
        return self

    # ------------------------------------------------------------------------ ownership

    def lock(self) -> RunFolder:
        """Take the folder's write lock (RunError naming the holder's pid if another process has it)."""
        try:
            self._lock.acquire(f"the run folder {self.path}")
        except OSError as error:
            raise RunError(f"cannot write the run folder {self.path}: {reason(error)}") from None
        return self

    @property
    def locked(self) -> bool:
        """True while this object holds the folder's write lock."""
        return self._lock.held

    def unlock(self) -> None:
        """Release the write lock (and remove its file); nothing happens if it is not held."""
        self._lock.release()

    def manifest(self) -> list[str] | None:
        """The file names the manifest lists, or None when the folder has no manifest."""
        path = self.path / MANIFEST
        return files.read_manifest(path) if os.path.lexists(path) else None

    def check_reusable(self, force: bool) -> None:
        """An existing --out folder may be used if it is empty, or with --force if bpcli made it."""
        if not any(entry.name != LOCK for entry in self.path.iterdir()):
            return
        if not force:
            raise RunError(
                f"--out {self.path}: folder exists and is not empty", "use --force to overwrite"
            )
        if self.manifest() is None:
            raise RunError(
                f"--out {self.path}: --force reuses only a run folder made by bpcli, and this one has "
                f"no {MANIFEST}",
                "choose a new or empty folder; bpcli deletes nothing it did not write",
            )

    def claim(self) -> None:
        """Write the manifest (every name bpcli may write here) and drop stale temporary files."""
        remove_temporaries(self.path, (*OWN_FILES, MANIFEST))
        atomic_write(self.path / MANIFEST, files.manifest_text(OWN_FILES, __version__))

    # ------------------------------------------------------------------------ writing

    def remove_files(self) -> None:
        """Delete the files the manifest lists, the manifest and stale temporaries; nothing else."""
        listed = self.manifest() or []
        remove_temporaries(self.path, (*listed, MANIFEST))
        for name in [name for name in listed if name != LOCK] + [MANIFEST]:
            (self.path / name).unlink(missing_ok=True)

    def begin(self, config: Config, preprocess: Preprocess, force: bool = False) -> None:
        """Start a new run here (the lock held): drop an earlier run's files (--force), claim the
        folder, write config and preprocessing."""
        self.check_reusable(force)
        self.remove_files()
        self.claim()
        self.write_config(config)
        atomic_write(self.path / PREPROCESS, files.json_text(preprocess.__dict__))

    def write_config(self, config: Config) -> None:
        atomic_write(self.path / CONFIG, to_yaml(config))

    def write_progress(self, state, config: Config, fingerprint: str, diagnostics=None) -> None:
        """Diagnostics rows, the checkpoint, then the metrics it covers (each file atomic).

        In this order a kill between two writes leaves rows the checkpoint covers or ones a resume
        drops (diagnostics beyond the checkpoint's epoch), and metrics a resume rewrites from the
        checkpoint's history: never a gap.
        """
        if diagnostics is not None:
            self.write_diagnostics(diagnostics)
        checkpoint.save(self.checkpoint, state, config, fingerprint)
        self.write_metrics(state.history)

    def write_metrics(self, epochs: list[dict]) -> None:
        atomic_write(self.path / METRICS, files.metrics_csv(epochs))

    def write_diagnostics(self, rows: list[dict]) -> None:
        atomic_write(self.path / DIAGNOSTICS, files.diagnostics_csv(rows))

    def write_final(self, config: Config, state: dict, epochs: list[dict], summary: dict) -> None:
        """The finished run: config, weights, metrics, then the summary that marks it complete."""
        self.write_config(config)
        for name in DERIVED_FILES:
            (self.path / name).unlink(missing_ok=True)
        atomic_write(self.path / WEIGHTS, weights.encode(state))
        self.write_metrics(epochs)
        atomic_write(self.path / SUMMARY, files.json_text(summary))

    # ------------------------------------------------------------------------ reading

    def read_config(self, overrides: list[str] = ()) -> Config:
        """The run's config; with --set overrides applied, as a resume reads it."""
        if overrides:
            return load_config(self.path / CONFIG, overrides)
        return validate(*read_config(self.path / CONFIG))

    def read_preprocess(self) -> Preprocess:
        return files.read_preprocess(self.path / PREPROCESS)

    def read_summary(self) -> dict:
        return files.read_summary(self.path / SUMMARY)

    def read_metrics(self) -> list[dict[str, str]]:
        return files.read_metrics(self.path / METRICS)

    def metrics_file(self) -> Path:
        return self.path / METRICS

    def read_diagnostics(self) -> list[dict] | None:
        """The diagnostics rows, or None when the run recorded none (training.diagnostics off)."""
        path = self.path / DIAGNOSTICS
        return files.read_diagnostics(path) if os.path.lexists(path) else None

    def read_weights_into(self, network) -> None:
        weights.load_into(network, self.path / WEIGHTS)

    def read_checkpoint(self):
        """(TrainingState, metadata) of the run's checkpoint, format-checked; no array larger than
        the saved config's network is read."""
        config, preprocess = self.read_config(), self.read_preprocess()
        hidden = [layer.width for layer in config.model.hidden_layers()]
        widths = layer_widths(preprocess.inputs, hidden, preprocess.outputs)
        return checkpoint.load(self.checkpoint, weights.parameter_shapes(widths))

    def read_files(self) -> dict[str, bytes]:
        """The run's files by name (SHIPPED), to train it further on another machine."""
        paths = [self.path / name for name in SHIPPED]
        return {path.name: path.read_bytes() for path in paths if path.is_file()}

    def replace_files(self, contents: dict[str, bytes]) -> None:
        """Make this folder hold exactly these run files (sent back from another machine)."""
        if contents:
            self.path.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED:
            if name in contents:
                atomic_write(self.path / name, contents[name])
            else:
                (self.path / name).unlink(missing_ok=True)

    def listing(self) -> list[dict]:
        """The folder's visible regular files with their sizes."""
        return [
            {"name": f.name, "bytes": f.stat().st_size}
            for f in sorted(self.path.iterdir())
            if f.is_file() and not f.name.startswith(".")
        ]


def find_run_folders(root: Path) -> list[Path]:
    """Every run folder under `root` (itself included), recursively, sorted by path."""
    root = Path(root)
    found = [root] if (root / CONFIG).is_file() else []
    found += sorted(path.parent for path in root.rglob(CONFIG) if path.parent != root)
    return found


def find_sweep_folders(root: Path) -> list[Path]:
    """Every sweep folder under `root` (itself included), recursively, sorted by path."""
    return sorted(path.parent for path in Path(root).rglob(SWEEP_SPEC))


class SweepFolder:
    """A sweep folder on disk: the resolved spec, the trials table, the summary, one run per trial."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def spec(self) -> Path:
        return self.path / SWEEP_SPEC

    @property
    def trials_file(self) -> Path:
        return self.path / TRIALS

    @property
    def summary_file(self) -> Path:
        return self.path / SUMMARY

    @property
    def plot_file(self) -> Path:
        """Where `bpcli plot SWEEP_DIR` draws unless told otherwise."""
        return self.path / SWEEP_PLOT

    @classmethod
    def holds(cls, path: str | Path) -> bool:
        """True if `path` is a sweep folder (it has a sweep.yaml)."""
        return (Path(path) / SWEEP_SPEC).is_file()

    def require(self, what: str = "sweep folder") -> SweepFolder:
        if not self.path.is_dir():
            raise RunError(f"{what} not found: {self.path}")
        if not self.holds(self.path):
            raise RunError(
                f"{self.path} is not a sweep folder (it has no {SWEEP_SPEC})",
                "pass a folder written by bpcli sweep",
            )
        return self

    def check_reusable(self, force: bool) -> None:
        """An existing --out folder may hold a new sweep if it is empty, or with --force if it holds
        a sweep (whose files alone are then removed)."""
        if not any(self.path.iterdir()):
            return
        if not force:
            raise RunError(
                f"--out {self.path}: folder exists and is not empty",
                "use --force to start the sweep again there, or --resume to continue it",
            )
        if not self.holds(self.path):
            raise RunError(
                f"--out {self.path}: --force reuses only a sweep folder, and this one has no "
                f"{SWEEP_SPEC}",
                "choose a new or empty folder; bpcli deletes nothing it did not write",
            )

    def begin(self, spec_text: str) -> SweepFolder:
        """Start a sweep here: drop an earlier sweep's files (after --force), write the spec."""
        self.remove_files()
        (self.path / TRIAL_DIRS).mkdir(parents=True, exist_ok=True)
        atomic_write(self.spec, spec_text)
        return self

    def remove_files(self) -> None:
        """Delete the sweep's own files and its trials' run files (nothing else the folder holds)."""
        for name in (SWEEP_SPEC, TRIALS, SUMMARY, SWEEP_PLOT):
            (self.path / name).unlink(missing_ok=True)
        trials = self.path / TRIAL_DIRS
        if trials.is_dir():
            for trial in trials.iterdir():
                if trial.is_dir():
                    RunFolder(trial).remove_files()
                    _remove_if_empty(trial)
            _remove_if_empty(trials)

    def trial(self, trial_id: str) -> RunFolder:
        return RunFolder(self.path / TRIAL_DIRS / trial_id)

    def trial_path(self, trial_id: str) -> str:
        """A trial's run folder relative to the sweep folder, as trials.csv records it."""
        return f"{TRIAL_DIRS}/{trial_id}"

    def write_trials(self, columns: list[str], rows: list[dict]) -> None:
        atomic_write(self.trials_file, files.rows_csv(columns, rows))

    def write_summary(self, summary: dict) -> None:
        atomic_write(self.summary_file, files.json_text(summary))

    def read_trials(self) -> list[dict[str, str]]:
        """The rows of trials.csv ([] when the sweep wrote none yet)."""
        return files.read_rows(self.trials_file) if self.trials_file.is_file() else []

    def read_summary(self) -> dict:
        return files.read_sweep_summary(self.summary_file)


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
