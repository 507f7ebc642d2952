"""One training session into a run folder, fresh or resumed: checkpoints, stop signals, divergence.

It reports through a `Listener` (the CLI's live display is one; the default says nothing) and never
prints. The session holds the folder's write lock throughout. A failed start leaves no folder behind;
a run that fails later (a stop signal, divergence, a full disk, out of memory) keeps its last good
checkpoint to resume from. A stop signal that arrives before the final files are complete exits
130/143, never 0.
"""

from __future__ import annotations

import shlex
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpcli.config import Config, check_resumable, check_same_best, load_config
from bpcli.errors import BpcliError, ConfigError
from bpcli.runs import environment
from bpcli.runs.checkpoint import check_state, data_fingerprint
from bpcli.runs.folder import RunFolder, new_run_dir
from bpcli.runs.run import Run
from bpcli.training.diagnostics import Diagnostics
from bpcli.training.experiment import Experiment, setup
from bpcli.training.guard import TrainingInterrupted, TrainingStopped
from bpcli.training.loop import History, final_metrics, fit, learning_rate
from bpcli.training.signals import StopSignals


class Listener:
    """What a session tells its caller; every method does nothing here. Used as a context manager
    around the epochs (a live display starts and stops there)."""

    def begin(self, experiment: Experiment, run_dir: Path, start_epoch: int) -> None:
        """Training is about to start (or continue after `start_epoch` epochs)."""

    def on_batch(self, done: int, total: int) -> None:
        """Batch `done` of `total` in the current epoch was trained; called after every batch, so it
        must be cheap (a display throttles its redraws)."""

    def on_epoch(self, record: dict) -> None:
        """An epoch ended: its record (epoch, lr, train and validation metrics, seconds)."""

    def warn(self, message: str, hint: str | None = None) -> None:
        """A problem seen while training (dead ReLUs, exploding gradients)."""

    def note(self, message: str) -> None:
        """Something worth knowing about the session (a resume that changes settings)."""

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc_info) -> None:
        return None


@dataclass
class Session:
    """A run folder being trained: the experiment, where it started, what it created."""

    experiment: Experiment
    folder: RunFolder
    state: object | None = None
    created: tuple[Path, ...] = ()
    blas_threads: int | None = None
    """The BLAS thread count to pin while training (a resume, with threadpoolctl), else None."""

    @property
    def fingerprint(self) -> str:
        return data_fingerprint(self.experiment)


def start_fresh(config: Config | str | Path, overrides: list[str], out, force: bool) -> Session:
    """Config, data and network first (errors leave no folder behind), then the run folder, created
    exclusively and locked."""
    if not isinstance(config, Config):
        config = load_config(config, overrides)
    experiment = setup(config)
    target = Path(out) if out is not None else Path(config.output.dir)
    # the folders this session creates (the run folder and its missing parents), undone on failure
    missing = [p for p in (target, *target.parents) if not _exists(p)]
    path, made = new_run_dir(config.output.dir, config.name, out, force)
    created = [path, *missing] if out is None else missing if made else []
    session = Session(experiment, RunFolder(path), None, tuple(created))
    try:
        session.folder.lock()
        session.folder.begin(config, experiment.data.preprocess, force)
    except BaseException:
        _remove_new_folders(session.folder, session.created)
        raise
    return session


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: new_run_dir reports it
        return True


def start_resumed(run_dir: str | Path, overrides: list[str]) -> tuple[Session, Config]:
    """The run's own config (plus overrides that may change mid-run) and its checkpoint, checked
    against the rebuilt network; also the config as saved. Nothing is written; the folder is
    locked for the session (and released on any error here)."""
    folder = RunFolder(run_dir).require("--resume: run folder")
    check_resumable(overrides)
    folder.lock()
    try:
        state, meta = folder.read_checkpoint()
        saved = folder.read_config()
        config = folder.read_config(overrides)
        check_same_best(saved, config)
        experiment = setup(config)
        check_state(experiment, state, meta, folder.checkpoint)
    except BaseException:
        folder.unlock()
        raise
    return Session(experiment, folder, state, blas_threads=meta.blas_threads), saved


def changes_result(before: Config, after: Config, done: int) -> bool:
    """Whether training on with `after` from a checkpoint of `before` after `done` epochs ends
    elsewhere than an uninterrupted run of `after`: any change but training.epochs does, and so
    does a new epoch count that changes the learning rates of the epochs done (a cosine schedule)."""
    training = before.training.model_copy(update={"epochs": after.training.epochs})
    if before.model_copy(update={"training": training}).digest() != after.digest():
        return True
    return any(learning_rate(before, e) != learning_rate(after, e) for e in range(done))


def train(
    config: Config | str | Path,
    overrides: list[str] = (),
    *,
    out: str | Path | None = None,
    force: bool = False,
    listener: Listener | None = None,
) -> Run:
    """Train a config (a file, or a validated Config) into a new run folder; returns the saved run."""
    listener = listener or Listener()
    return _run(start_fresh(config, list(overrides), out, force), listener, fresh=True)


def resume(
    run_dir: str | Path, overrides: list[str] = (), *, listener: Listener | None = None
) -> Run:
    """Continue the run in `run_dir` from its checkpoint (with --set style overrides).

    A finished run trains on only when asked to: a higher training.epochs, or (for a run that
    stopped early) a change to training.early_stopping; an early-stopped run then continues from
    the state at its stop, with early stopping's patience starting afresh (its best epoch and best
    weights are kept). Otherwise nothing is changed and the run is returned as it is.
    """
    listener = listener or Listener()
    session, saved = start_resumed(run_dir, list(overrides))
    try:
        return _resume(session, saved, listener)
    finally:
        session.folder.unlock()


def _resume(session: Session, saved: Config, listener: Listener) -> Run:
    state, folder = session.state, session.folder
    config = session.experiment.config
    epochs, done = config.training.epochs, state.epoch
    if folder.finished:
        nothing = _nothing_to_resume(state, saved, config)
        if nothing:
            listener.note(f"{folder.path}: {nothing}")
            return Run.load(folder.path)
        if state.stopped_early:
            session.state = state.reopened()
    listener.note(f"resuming {folder.path} after epoch {done}/{epochs}")
    threads = environment.thread_mismatch(session.blas_threads)
    if threads:
        listener.note(threads)
    if config.digest() != saved.digest():
        if changes_result(saved, config, done):
            listener.note(
                "note: the config differs from the checkpoint's, so the result will differ from an "
                "uninterrupted run"
            )
        folder.write_config(config)
    # a kill between two writes may have left metrics behind the checkpoint, or temporaries
    folder.claim()
    folder.write_metrics(session.state.history)
    return _run(session, listener, fresh=False)


def _nothing_to_resume(state, saved: Config, config: Config) -> str | None:
    """Why a finished run would not train on with this config; None when it will."""
    epochs, done = config.training.epochs, state.epoch
    if done >= epochs:
        return (
            f"already finished after epoch {done} of {epochs}: nothing to resume "
            f"(--set training.epochs=N, N > {done}, trains it longer)"
        )
    changed = (config.training.epochs, config.training.early_stopping) != (
        saved.training.epochs,
        saved.training.early_stopping,
    )
    if state.stopped_early and not changed:
        return (
            f"stopped early after epoch {done}: nothing to resume (to train on, raise "
            "training.epochs or change training.early_stopping; its patience then starts afresh)"
        )
    return None


def _run(session: Session, listener: Listener, fresh: bool) -> Run:
    experiment, folder = session.experiment, session.folder
    config = experiment.config
    started = time.perf_counter()
    try:
        with StopSignals() as stop, environment.pinned_blas_threads(session.blas_threads):
            # non-finite values are caught and explained by the BatchGuard: numpy's warnings are noise
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                history = _fit(session, listener, stop)
                metrics = final_metrics(experiment)
            _stop_if_requested(stop, folder, finished=False)
            wall = time.perf_counter() - started
            summary = summary_document(experiment, history, metrics, wall, folder.path)
            folder.write_final(config, experiment.network.state(), history.epochs, summary)
            _stop_if_requested(stop, folder, finished=True)
    except MemoryError:
        error = _out_of_memory(experiment)
        _after_failure(session, error, fresh)
        raise error from None
    except BpcliError as error:
        _after_failure(session, error, fresh)
        raise
    finally:
        folder.unlock()
    return Run(folder, config, experiment.data.preprocess, experiment.network, summary)


def _fit(session: Session, listener: Listener, stop: StopSignals) -> History:
    """`fit` under stop signals, checkpointing as configured; a stop saves the last good state."""
    experiment, folder = session.experiment, session.folder
    observer = diagnostics_for(experiment, listener, folder, session.state)
    fingerprint = session.fingerprint

    def save_progress(good) -> None:
        rows = observer.rows if observer is not None else None
        folder.write_progress(good, experiment.config, fingerprint, rows)

    start = session.state.epoch if session.state is not None else 0
    listener.begin(experiment, folder.path, start)
    try:
        with listener:
            history = fit(
                experiment,
                listener.on_epoch,
                resume=session.state,
                on_checkpoint=save_progress,
                should_stop=stop.requested,
                observer=observer,
                on_batch=listener.on_batch,
            )
    except TrainingStopped as stopped:
        _keep_last_good(folder, stopped, save_progress)
        raise
    if history.stopped_early:
        listener.note(early_stop_note(experiment.config, history))
    return history


def _stop_if_requested(stop: StopSignals, folder: RunFolder, finished: bool) -> None:
    """A signal that came after the last epoch's check still stops the run with 130/143."""
    if stop.requested() is None:
        return
    interrupted = TrainingInterrupted(stop.requested(), 0, 0)
    name = signal.Signals(stop.requested()).name
    command = f"bpcli train --resume {shlex.quote(str(folder.path))}"
    if finished:
        interrupted.message = f"interrupted by {name} as the run finished"
        interrupted.hint = f"its files are complete: {folder.path}"
    else:
        interrupted.message = f"interrupted by {name} after the last epoch"
        interrupted.hint = f"the final state is in {folder.checkpoint}\nresume with: {command}"
    raise interrupted


def _out_of_memory(experiment: Experiment) -> ConfigError:
    network, training = experiment.network, experiment.config.training
    return ConfigError(
        f"out of memory while training a network of widths {network.widths} "
        f"({network.parameter_count()} parameters) with training.batch_size {training.batch_size}",
        "use fewer or narrower hidden layers, or a smaller batch_size",
    )


def _after_failure(session: Session, error: BpcliError, fresh: bool) -> None:
    """A fresh run with no checkpoint yet is removed; otherwise the last good checkpoint stays."""
    folder = session.folder
    if isinstance(error, TrainingStopped):
        return
    if _exists_checkpoint(folder):
        command = f"bpcli train --resume {shlex.quote(str(folder.path))}"
        kept = f"the last good state is kept in {folder.checkpoint}; once fixed: {command}"
        error.hint = f"{error.hint}\n{kept}" if error.hint else kept
    elif fresh:
        _remove_new_folders(folder, session.created)


def _exists_checkpoint(folder: RunFolder) -> bool:
    try:
        return folder.checkpoint.is_file()
    except OSError:
        return False


def early_stop_note(config: Config, history: History) -> str:
    """'stopped early at epoch 79: val_loss did not improve for 20 epochs; restored weights from
    epoch 59 (val_loss 0.08395)' (4 significant digits, as the display shows numbers)."""
    stopping = config.training.early_stopping
    by = f" by more than {stopping.min_delta:g}" if stopping.min_delta else ""
    last = len(history.epochs)
    note = f"stopped early at epoch {last}: {stopping.monitor} did not improve{by} for "
    note += f"{stopping.patience} epochs; "
    best = f"{history.best_metric} {history.best_value:.4g}" if history.best_epoch else ""
    if history.restored_best:
        return note + f"restored weights from epoch {history.best_epoch} ({best})"
    if history.best_epoch is None:
        return note + f"kept the weights of epoch {last} (no epoch had a finite {stopping.monitor})"
    return note + (
        f"kept the weights of epoch {last} (restore_best is off; the best was epoch "
        f"{history.best_epoch}, {best})"
    )


def diagnostics_for(experiment: Experiment, listener: Listener, folder: RunFolder, state):
    """The gradient-flow observer when training.diagnostics is on (warnings go to the listener);
    on resume it carries on from the run's saved rows up to the checkpoint's epoch."""
    if not experiment.config.training.diagnostics:
        return None
    observer = Diagnostics(experiment.network, listener.warn)
    if state is not None:
        observer.resume(folder.read_diagnostics() or [], state.epoch)
    return observer


def summary_document(
    experiment: Experiment, history: History, metrics: dict, wall: float, run_dir: Path
) -> dict:
    """The summary of a finished run: final metrics per split, best epoch, time, versions."""
    config, network = experiment.config, experiment.network
    return {
        "name": config.name,
        "run_dir": str(run_dir),
        "task": experiment.task,
        "epochs_run": len(history.epochs),
        "best_epoch": history.best_epoch,
        "best_metric": history.best_metric,
        "best_value": history.best_value,
        "weights_epoch": history.best_epoch if history.restored_best else len(history.epochs),
        "stopped_early": history.stopped_early,
        "wall_time_s": round(wall, 3),
        "parameters": network.parameter_count(),
        "metrics": metrics,
        "config_hash": config.digest(),
        "versions": environment.versions(),
    }


def _keep_last_good(folder: RunFolder, stopped: TrainingStopped, save_progress) -> None:
    """Write the last good state and tell the user how to continue from it."""
    if stopped.state is None:
        return
    save_progress(stopped.state)
    done = stopped.state.epoch
    command = f"bpcli train --resume {shlex.quote(str(folder.path))}"
    if isinstance(stopped, TrainingInterrupted):
        stopped.hint = (
            f"saved the state after epoch {done} to {folder.checkpoint}\nresume with: {command}"
        )
    else:
        stopped.hint = (
            f"{stopped.hint}. The last good state (after epoch {done}) is in {folder.checkpoint}: "
            f"{command} --set optimizer.lr=<lower>"
        )


def _remove_new_folders(folder: RunFolder, created: tuple[Path, ...]) -> None:
    """Undo what a failed start made: the run's files (only while this session holds the lock, so
    never another process's), the lock, then the folders it created, innermost first."""
    try:
        if folder.locked:
            folder.remove_files()
    except (OSError, BpcliError):
        pass  # a read-only or damaged folder: leave it as it is
    folder.unlock()
    for path in created:  # rmdir only removes empty folders
        try:
            path.rmdir()
        except OSError:
            break
