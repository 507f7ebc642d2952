"""The public Python API: what every `bpcli` command calls, and what a notebook or a sweep calls in-process.

    import bpcli
    run = bpcli.train("configs/iris.yaml", ["training.epochs=50"], out="runs/iris", force=True)
    run.predict(X)                      # labels as in training (values for regression)
    run.evaluate("test").metrics        # {'loss': …, 'accuracy': …, …}
    run = bpcli.load("runs/iris")       # a saved run (bpcli.Run.load)
    bpcli.gradcheck("configs/iris.yaml").passed
    sweep = bpcli.sweep("configs/sweeps/iris.yaml", workers=2)  # sweep.summary["best"]
    bpcli.list_runs("runs", sort="val_accuracy")          # every run under runs/, best first

Errors are `bpcli.errors.BpcliError`s with a message and a hint, as the CLI shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bpcli.config import Config, config_from_dict, load_config
from bpcli.core.gradcheck import TensorCheck, check_gradients
from bpcli.core.losses import LOSSES
from bpcli.core.optimizers import OPTIMIZERS
from bpcli.explanation import Explanation, explain_path
from bpcli.onnx_check import require_onnxruntime
from bpcli.onnx_export import Exported, export_run, require_onnx
from bpcli.runs import session
from bpcli.runs.folder import CURVES, SweepFolder
from bpcli.runs.listing import list_runs
from bpcli.runs.predict import feature_chunks, target_position, write_predictions
from bpcli.runs.report import build_report
from bpcli.runs.resolve import config_or_run
from bpcli.runs.run import Run
from bpcli.runs.session import Listener
from bpcli.sweeps import driver
from bpcli.sweeps.driver import SweepInterrupted, SweepListener, SweepResult
from bpcli.training.experiment import Experiment, setup

__all__ = [
    "GradcheckResult",
    "Listener",
    "Run",
    "SweepInterrupted",
    "SweepListener",
    "SweepResult",
    "explain",
    "export",
    "gradcheck",
    "inspect",
    "is_sweep",
    "list_runs",
    "load",
    "plot_boundary",
    "plot_curves",
    "plot_sweep",
    "predict_csv",
    "resume",
    "resume_sweep",
    "sweep",
    "train",
    "validate",
]

ConfigLike = str | Path | dict | Config


def _config(config: ConfigLike, overrides) -> Config:
    """A validated Config from a file path, a config mapping (paths relative to the working
    folder) or a Config (used as given)."""
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return config_from_dict(config, list(overrides))
    return load_config(config, list(overrides))


def train(
    config: ConfigLike,
    overrides: list[str] = (),
    *,
    out: str | Path | None = None,
    force: bool = False,
    listener: Listener | None = None,
) -> Run:
    """Train a config into a new run folder and return the saved run.

    `overrides` are `key.path=value` strings, as `--set` takes them; `out` is the exact run folder
    (default: <output.dir>/<name>-<time>); `listener` hears the epochs (see runs.session.Listener).
    """
    return session.train(_config(config, overrides), out=out, force=force, listener=listener)


def resume(
    run_dir: str | Path, overrides: list[str] = (), *, listener: Listener | None = None
) -> Run:
    """Continue an interrupted run (or train a finished one longer) from its checkpoint."""
    return session.resume(run_dir, list(overrides), listener=listener)


def load(path: str | Path) -> Run:
    """A finished run from its folder."""
    return Run.load(path)


def validate(config: ConfigLike, overrides: list[str] = ()) -> Experiment:
    """Check a config and load its data without training; the experiment it would train."""
    return setup(_config(config, overrides))


@dataclass
class GradcheckResult:
    """Backprop's gradient of every tensor against central differences (float64)."""

    origin: str
    samples: int
    loss: str
    weight_decay: float
    eps: float
    tol: float
    checks: list[TensorCheck]
    targets_standardized: bool = False
    """The regression targets are standardized, (y − mean)/std, as the network trains on them."""

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def as_dict(self) -> dict:
        return {
            "samples": self.samples,
            "loss": self.loss,
            "weight_decay": self.weight_decay,
            "eps": self.eps,
            "tol": self.tol,
            "targets_standardized": self.targets_standardized,
            "passed": self.passed,
            "tensors": [check.as_dict() for check in self.checks],
        }


def coupled_weight_decay(config: Config) -> float:
    """λ when the optimizer adds λW to the gradient; 0 for decoupled decay (adamw), outside it."""
    optimizer = OPTIMIZERS[config.optimizer.name]
    return 0.0 if optimizer.decoupled_decay else config.optimizer.weight_decay


def gradcheck(
    target: str | Path,
    *,
    samples: int = 8,
    eps: float = 1e-5,
    tol: float = 1e-6,
    max_params: int | None = 5000,
    overrides: list[str] = (),
) -> GradcheckResult:
    """Check the gradients of a config's fresh network or a run's trained one on `samples` rows
    (of the training split, preprocessed as training sees them: standardized regression targets
    when data.standardize_target is on)."""
    subject = config_or_run(target, list(overrides))
    rows = subject.train_rows()
    X, Y = rows.X[:samples], rows.Y[:samples]
    weights = None if rows.weights is None else rows.weights[:samples]
    loss, decay = LOSSES[subject.config.loss], coupled_weight_decay(subject.config)
    checks = check_gradients(
        subject.network, X, Y, loss, decay, eps, tol, max_params or None, weights=weights
    )
    standardized = subject.target_std is not None
    return GradcheckResult(
        subject.origin, int(X.shape[0]), loss.name, decay, eps, tol, checks, standardized
    )


def explain(
    target: str | Path, *, batch: int | None = None, overrides: list[str] = ()
) -> Explanation:
    """The forward and backward equations of a config's or a run's network, with real shapes."""
    return explain_path(target, batch, overrides)


def predict_csv(
    run: Run,
    source: str | Path,
    out: TextIO,
    *,
    proba: bool = False,
    stdin: TextIO | None = None,
    on_note: Callable[[str], None] | None = None,
    keep: list[str] = (),
) -> int:
    """Predict the rows of a .csv (columns matched by name; others ignored), .npy or .npz file, or
    of CSV on `stdin` when `source` is '-', and write CSV to `out` chunk by chunk, the CSV columns
    named in `keep` first; returns the row count. `on_note` hears about input columns that are
    ignored (an .npy's target column)."""
    prep = run.preprocess
    target = target_position(run.config, len(prep.feature_names))
    chunks = feature_chunks(str(source), stdin, prep, target, on_note, list(keep))
    return write_predictions(run, chunks, out, proba, list(keep))


def export(
    run: Run | str | Path,
    out: str | Path | None = None,
    *,
    opset: int | None = None,
    dtype: str | None = None,
    check: bool = False,
) -> Exported:
    """Write a run's whole prediction (standardisation, layers, labels) as an ONNX model: `out` is a
    file or a folder to write it into (default: the run folder); `opset` default 17; `dtype` float32
    (default) or float64. With `check`, run it in onnxruntime on the run's test split and compare
    with bpcli (`result.comparison.passed`). Needs bpcli[onnx], and onnxruntime for `check`."""
    require_onnx()
    if check:
        require_onnxruntime()
    return export_run(run if isinstance(run, Run) else Run.load(run), out, opset, dtype, check)


def inspect(path: str | Path) -> dict:
    """A JSON-ready report on a saved run: config, layers, metrics, best epoch, diagnostics, files."""
    return build_report(path)


def plot_curves(run_dirs: list[str | Path], metric: str = "loss", out: str | Path = CURVES) -> Path:
    """Learning curves (train solid, validation dashed) of one or more runs; needs bpcli[plot]."""
    from bpcli.plots import learning_curves

    return learning_curves([Path(d) for d in run_dirs], metric, Path(out))


def plot_boundary(run: Run, out: str | Path) -> Path:
    """The decision regions of a 2-feature classifier over its data; needs bpcli[plot]."""
    from bpcli.plots import decision_boundary

    return decision_boundary(run, Path(out))


def sweep(
    spec: str | Path,
    *,
    out: str | Path | None = None,
    force: bool = False,
    backend: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    address: str | None = None,
    listener: SweepListener | None = None,
) -> SweepResult:
    """Run every trial of a sweep spec (see docs/sweeps.md) into a sweep folder.

    `backend` 'local': `workers` processes (default: the cores) with `threads` BLAS threads each
    (default: cores // workers); 'ray': one task of `threads` CPUs (default 1) per trial on the Ray
    cluster at `address` ('auto', HOST:PORT; default: a local Ray instance), at most `workers` at a
    time when given. `out`: the sweep folder (default <output.dir>/sweep-<spec name>-<time>).
    """
    options = {"backend": backend, "workers": workers, "threads": threads, "address": address}
    return driver.run(spec, out=out, force=force, listener=listener, **options)


def resume_sweep(
    sweep_dir: str | Path,
    *,
    backend: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    address: str | None = None,
    listener: SweepListener | None = None,
) -> SweepResult:
    """Run what an interrupted sweep is missing (options as for `sweep`)."""
    options = {"backend": backend, "workers": workers, "threads": threads, "address": address}
    return driver.resume(sweep_dir, listener=listener, **options)


def is_sweep(path: str | Path) -> bool:
    """Whether `path` is a sweep folder (written by `sweep`)."""
    return SweepFolder.holds(path)


def plot_sweep(
    sweep_dir: str | Path, metric: str | None = None, out: str | Path | None = None
) -> Path:
    """The metric (default: the sweep's) against each swept parameter, mean ± std over seeds and
    folds; needs bpcli[plot]."""
    from bpcli.plots import sweep_panels

    return sweep_panels(Path(sweep_dir), metric, Path(out) if out else None)
