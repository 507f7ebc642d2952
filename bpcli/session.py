"""One `bpcli train` session, fresh or resumed: run folder, checkpoints, stop signals, divergence.

Invariant of a run folder: summary.json and weights.npz exist only once training finished; an
interrupted or diverged run holds config.yaml, preprocess.json, metrics.csv and checkpoint.npz (the last
good state), from which `bpcli train --resume RUN_DIR` continues.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import numpy as np

from bpcli.checkpoint import CHECKPOINT, RunFolder, check_state, open_resume
from bpcli.config import load_config, to_yaml
from bpcli.display import TrainingDisplay, stderr_console
from bpcli.errors import BpcliError
from bpcli.runs import atomic_write, new_run_dir, read_json, save_run
from bpcli.safety import TrainingInterrupted, TrainingStopped
from bpcli.signals import StopSignals
from bpcli.textchart import loss_chart, summary_line
from bpcli.train import final_metrics, fit, setup


def start_fresh(config_path: Path, overrides: list[str], out, force: bool):
    """Config, data and network first (errors leave no folder behind), then the run folder."""
    config = load_config(config_path, overrides)
    experiment = setup(config)
    target = Path(out) if out is not None else Path(config.output.dir)
    # the folders this session creates (the run folder and its missing parents), undone on failure
    created = [p for p in (target, *target.parents) if not p.exists()]
    folder = RunFolder(new_run_dir(config.output.dir, config.name, out, force), experiment)
    if out is None:
        created.insert(0, folder.path)
    folder.begin()
    return experiment, folder, None, created


def start_resumed(run_dir: Path, overrides: list[str], console):
    """The run's own config (plus overrides) and its checkpoint, checked against the rebuilt network."""
    config, state, meta = open_resume(run_dir, overrides)
    experiment = setup(config)
    check_state(experiment, state, meta, run_dir / CHECKPOINT)
    if meta.config_hash != config.digest():
        console.print(
            "note: the config differs from the checkpoint's, so the result will differ from an "
            "uninterrupted run",
            style="yellow",
        )
        atomic_write(run_dir / "config.yaml", to_yaml(config))
    return experiment, RunFolder(run_dir, experiment), state


def train_session(config_path, overrides, out, force, resume, quiet) -> tuple[Path, dict]:
    """Train (or continue) and save the run; returns the run folder and its summary."""
    console = stderr_console()
    created: list[Path] = []
    if resume is not None:
        experiment, folder, state = start_resumed(Path(resume), overrides, console)
        epochs = experiment.config.training.epochs
        finished = state.stopped_early or state.epoch >= epochs
        if finished and (folder.path / "summary.json").is_file():
            console.print(
                f"{folder.path} already finished after epoch {state.epoch}: nothing to resume"
            )
            return folder.path, read_json(folder.path / "summary.json")
        console.print(f"resuming {folder.path} after epoch {state.epoch}/{epochs}", markup=False)
    else:
        experiment, folder, state, created = start_fresh(config_path, overrides, out, force)
    config = experiment.config
    started = time.perf_counter()
    try:
        # non-finite values are caught and explained by the BatchGuard: numpy's warnings are noise
        with StopSignals() as stop, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                with TrainingDisplay(
                    console, config.training.epochs, config.name, quiet
                ) as display:
                    observer = diagnostics_for(experiment, display, folder.path, state)

                    def save_progress(good):
                        folder.save_progress(good)
                        if observer is not None:
                            observer.save(folder.path)

                    history = fit(
                        experiment,
                        display.on_epoch,
                        resume=state,
                        on_checkpoint=save_progress,
                        should_stop=stop.requested,
                        observer=observer,
                    )
            except TrainingStopped as stopped:
                _keep_last_good(folder, stopped, save_progress)
                raise
            metrics = final_metrics(experiment)
            summary = save_run(
                folder.path, experiment, history, metrics, time.perf_counter() - started
            )
            if observer is not None:
                observer.save(folder.path)
    except BpcliError as error:
        if resume is None and not isinstance(error, TrainingStopped):
            _remove_new_folders(folder, created)
        raise
    if not quiet:
        console.print(
            loss_chart(history.epochs), summary_line(history.epochs), sep="\n", markup=False
        )
    return folder.path, summary


def diagnostics_for(experiment, display, run_dir: Path, state):
    """The gradient-flow observer when training.diagnostics is on (warnings go to the display);
    on resume it carries on from the run's diagnostics.csv up to the checkpoint's epoch."""
    if not experiment.config.training.diagnostics:
        return None
    from bpcli.diagnostics import Diagnostics

    observer = Diagnostics(experiment.network, display.warn)
    if state is not None:
        observer.resume(run_dir, state.epoch)
    return observer


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


def _remove_new_folders(folder: RunFolder, created: list[Path]) -> None:
    """Undo the folders this session created, when training failed before its first epoch."""
    folder.remove_files()
    for folder in created:  # innermost first; rmdir only removes empty folders
        try:
            folder.rmdir()
        except OSError:
            break
