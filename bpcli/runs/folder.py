"""The run folder and the sweep folder: the only module that knows their file names; every read and
write of their files.

    config.yaml       the resolved config              preprocess.json  feature/label preprocessing
    metrics.csv       one row per epoch                diagnostics.csv  gradient-flow rows (optional)
    checkpoint.npz    the last good training state     weights.npz      the final weights
    summary.json      final metrics, best epoch, versions
    model.onnx        the exported model (bpcli export; optional)

Invariant: weights.npz and summary.json exist only once training finished; an interrupted or diverged
run holds config.yaml, preprocess.json, metrics.csv and checkpoint.npz, from which it resumes. Every
file is written atomically, weights are read without pickle.

A sweep folder (`bpcli sweep`) holds sweep.yaml (the resolved spec), trials.csv (one row per trial),
summary.json (the best point, counts by status) and trials/<id>/, one run folder per trial.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from bpcli import weights
from bpcli.config import Config, load_config, read_config, to_yaml, validate
from bpcli.data.preprocess import Preprocess
from bpcli.errors import RunError
from bpcli.runs import checkpoint, files
from bpcli.runs.atomic import atomic_write

CONFIG = "config.yaml"
PREPROCESS = "preprocess.json"
METRICS = "metrics.csv"
DIAGNOSTICS = "diagnostics.csv"
CHECKPOINT = "checkpoint.npz"
WEIGHTS = "weights.npz"
SUMMARY = "summary.json"
RUN_FILES = (CONFIG, PREPROCESS, METRICS, DIAGNOSTICS, CHECKPOINT, WEIGHTS, SUMMARY)
ONNX_MODEL = "model.onnx"
DERIVED_FILES = (ONNX_MODEL,)
"""Made from a finished run's weights by other commands; removed when the weights change (a new run
in the folder with --force, a resumed run that finishes again), so they are never stale."""
SWEEP_SPEC = "sweep.yaml"
TRIALS = "trials.csv"
TRIAL_DIRS = "trials"
SWEEP_PLOT = "sweep.png"


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


def onnx_model_in(folder: str | Path) -> Path:
    """The exported model's file in `folder` (a run folder, or a folder given as `export -o`)."""
    return Path(folder) / ONNX_MODEL


class RunFolder:
    """A run folder on disk: its files by purpose, read and written atomically."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def has_config(self) -> bool:
        return (self.path / CONFIG).is_file()

    @property
    def onnx_model(self) -> Path:
        """Where `bpcli export` writes the model unless told otherwise."""
        return onnx_model_in(self.path)

    @property
    def finished(self) -> bool:
        """True once training completed here (the final weights and summary are written)."""
        return (self.path / SUMMARY).is_file()

    def require(self, what: str = "run folder") -> RunFolder:
        """This folder, if it is a run folder; else a RunError saying what it is instead."""
        if not self.path.exists():
            raise RunError(f"{what} not found: {self.path}")
        if not self.path.is_dir():
            raise RunError(
                f"{self.path} is a file, not a run folder",
                "pass a folder written by bpcli train",
            )
        if not self.has_config:
            raise RunError(
                f"{self.path} is not a run folder (it has no {CONFIG})",
                "pass a folder written by bpcli train",
            )
        return self

    # ------------------------------------------------------------------------ writing

    def remove_files(self) -> None:
        """Delete bpcli's own run files here (and nothing else the folder may hold)."""
        for name in RUN_FILES + DERIVED_FILES:
            (self.path / name).unlink(missing_ok=True)

    def begin(self, config: Config, preprocess: Preprocess) -> None:
        """Start a new run here: drop files of an earlier run (after --force), write config and prep."""
        self.remove_files()
        self.write_config(config)
        atomic_write(self.path / PREPROCESS, files.json_text(preprocess.__dict__))

    def write_config(self, config: Config) -> None:
        atomic_write(self.path / CONFIG, to_yaml(config))

    def write_progress(self, state, config: Config, fingerprint: str) -> None:
        """The checkpoint first, then the metrics it covers (each file atomic)."""
        checkpoint.save(self.checkpoint, state, config, fingerprint)
        atomic_write(self.path / METRICS, files.metrics_csv(state.history))

    def write_diagnostics(self, rows: list[dict]) -> None:
        atomic_write(self.path / DIAGNOSTICS, files.diagnostics_csv(rows))

    def write_final(self, config: Config, state: dict, epochs: list[dict], summary: dict) -> None:
        """The finished run: config, weights, metrics, then the summary that marks it complete."""
        self.write_config(config)
        for name in DERIVED_FILES:
            (self.path / name).unlink(missing_ok=True)
        atomic_write(self.path / WEIGHTS, weights.encode(state))
        atomic_write(self.path / METRICS, files.metrics_csv(epochs))
        atomic_write(self.path / SUMMARY, files.json_text(summary))

    # ------------------------------------------------------------------------ reading

    def read_config(self, overrides: list[str] = ()) -> Config:
        """The run's config; with --set overrides applied, as a resume reads it."""
        if overrides:
            return load_config(self.path / CONFIG, overrides)
        return validate(*read_config(self.path / CONFIG))

    def read_preprocess(self) -> Preprocess:
        return Preprocess(**files.read_json(self.path / PREPROCESS))

    def read_summary(self) -> dict:
        return files.read_json(self.path / SUMMARY)

    def read_metrics(self) -> list[dict[str, str]]:
        return files.read_metrics(self.path / METRICS)

    def metrics_file(self) -> Path:
        return self.path / METRICS

    def read_diagnostics(self) -> list[dict] | None:
        """The diagnostics rows, or None when the run recorded none (training.diagnostics off)."""
        path = self.path / DIAGNOSTICS
        return files.read_diagnostics(path) if path.is_file() else None

    def read_weights_into(self, network) -> None:
        weights.load_into(network, self.path / WEIGHTS)

    def read_checkpoint(self):
        """(TrainingState, metadata) of the run's checkpoint, format-checked."""
        return checkpoint.load(self.checkpoint)

    def read_files(self) -> dict[str, bytes]:
        """Every run file here, by name (to ship the run to another machine)."""
        files = [self.path / name for name in RUN_FILES]
        return {path.name: path.read_bytes() for path in files if path.is_file()}

    def replace_files(self, contents: dict[str, bytes]) -> None:
        """Make this folder hold exactly these run files (shipped back from another machine)."""
        if contents:
            self.path.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES:
            if name in contents:
                atomic_write(self.path / name, contents[name])
            else:
                (self.path / name).unlink(missing_ok=True)

    def listing(self) -> list[dict]:
        """The folder's visible files with their sizes."""
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

    def begin(self, spec_text: str) -> SweepFolder:
        """Start a sweep here: drop an earlier sweep's files (after --force), write the spec."""
        self.remove_files()
        (self.path / TRIAL_DIRS).mkdir(parents=True, exist_ok=True)
        atomic_write(self.spec, spec_text)
        return self

    def remove_files(self) -> None:
        """Delete the sweep's own files and its trials' run files (nothing else the folder holds)."""
        for name in (SWEEP_SPEC, TRIALS, SUMMARY):
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
        return files.read_json(self.summary_file)


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
