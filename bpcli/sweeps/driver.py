"""Running a sweep: plan it, lay out its folder, hand the trials still to run to a backend as slots
free up, record each outcome as it comes (the trials table) and rank the points at the end (the
summary).

It reports through a `SweepListener` and never prints. Ctrl-C or SIGTERM: running trials stop at
their next batch and checkpoint, nothing new starts, and the sweep raises SweepInterrupted (exit 130
or 143); `resume` then runs only what is missing: finished trials are kept, interrupted ones continue
from their checkpoints.
"""

from __future__ import annotations

import shlex
import signal
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from bpcli.core.metrics import flatten_metrics
from bpcli.errors import ConfigError, Interrupted
from bpcli.runs.folder import RunFolder, SweepFolder, new_run_dir
from bpcli.sweeps.backends import BACKENDS
from bpcli.sweeps.plan import Plan, Trial, plan
from bpcli.sweeps.results import summarize, trial_columns, trial_row
from bpcli.sweeps.search import make_search
from bpcli.sweeps.spec import read_spec, to_yaml
from bpcli.sweeps.trial import Job, Outcome
from bpcli.training.experiment import prepare_data
from bpcli.training.signals import StopSignals

POLL_S = 0.25
"""How often the driver looks for a stop signal while it waits for trials."""


class SweepListener:
    """What a sweep tells its caller; every method does nothing here."""

    def begin(self, plan: Plan, path: Path, todo: int) -> None:
        """The sweep in `path` is about to run `todo` of the plan's trials."""

    def on_trial(self, trial: Trial, outcome: Outcome, row: dict) -> None:
        """A trial came back (done, diverged, failed, or interrupted by a stop)."""

    def note(self, message: str) -> None:
        """Something worth knowing (a resume, what it keeps)."""

    def __enter__(self) -> SweepListener:
        return self

    def __exit__(self, *exc_info) -> None:
        return None


class SweepInterrupted(Interrupted):
    """A stop signal ended the sweep early (exit 128 + signal); `bpcli sweep --resume` continues it."""

    def __init__(self, signum: int, path: Path):
        super().__init__(
            f"sweep interrupted by {signal.Signals(signum).name}",
            f"continue with: bpcli sweep --resume {shlex.quote(str(path))}",
        )
        self.exit_code = 128 + signum


@dataclass
class SweepResult:
    """A sweep that ran: its folder, plan, every trial's outcome and the summary written."""

    path: Path
    plan: Plan
    outcomes: dict[str, Outcome]
    summary: dict


def make_backend(name: str, workers: int | None, threads: int | None, address: str | None):
    if name not in BACKENDS:
        raise ConfigError(f"--backend '{name}' is unknown", f"choose one of: {', '.join(BACKENDS)}")
    return BACKENDS[name](workers, threads, address)


def run(
    spec_path: str | Path,
    *,
    out: str | Path | None = None,
    force: bool = False,
    backend: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    address: str | None = None,
    listener: SweepListener | None = None,
) -> SweepResult:
    """Run every trial of the spec into a new sweep folder (default
    <output.dir>/sweep-<spec>-<time>)."""
    sweep = plan(read_spec(spec_path))
    search = make_search(sweep.spec)
    prepare_data(sweep.base)  # a data problem stops the sweep before anything is written
    with make_backend(backend, workers, threads, address) as engine:  # so does a wrong --address
        name = f"sweep-{sweep.spec.path.stem}"
        path, _ = new_run_dir(sweep.base.output.dir, name, out, force, SweepFolder)
        folder = SweepFolder(path).begin(to_yaml(sweep.spec))
        outcomes = {t.id: Outcome(t.id, "pending") for t in sweep.trials}
        jobs = [job(sweep, folder, t.id) for t in sweep.trials]
        listener = listener or SweepListener()
        return execute(sweep, folder, outcomes, jobs, engine, listener, search)


def resume(
    sweep_dir: str | Path,
    *,
    backend: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    address: str | None = None,
    listener: SweepListener | None = None,
) -> SweepResult:
    """Run what a sweep folder is missing: pending trials, and interrupted ones from checkpoints."""
    folder = SweepFolder(sweep_dir).require("--resume: sweep folder")
    sweep = plan(read_spec(folder.spec))
    search = make_search(sweep.spec)
    if search is not None:
        search.restore(sweep, folder.read_trials())
    outcomes, jobs = restore(sweep, folder)
    if search is not None:
        search.tell_finished(sweep, outcomes)
    listener = listener or SweepListener()
    kept = len(sweep.trials) - len(jobs)
    with make_backend(backend, workers, threads, address) as engine:
        listener.note(f"resuming {folder.path}: {kept} trials kept, {len(jobs)} to run")
        return execute(sweep, folder, outcomes, jobs, engine, listener, search)


def restore(sweep: Plan, folder: SweepFolder) -> tuple[dict[str, Outcome], list[Job]]:
    """Each trial's state from its run folder and the trials table: kept (done, diverged), resumed from a
    checkpoint, or run afresh (pending, failed)."""
    rows = {row.get("id"): row for row in folder.read_trials()}
    outcomes, jobs = {}, []
    for trial in sweep.trials:
        run, config = folder.trial(trial.id), sweep.configs[trial.id]
        check_same_config(run, config.digest(), trial)
        row = rows.get(trial.id, {})
        if run.finished:
            summary = run.read_summary()
            seconds = summary.get("wall_time_s", 0.0)
            outcomes[trial.id] = Outcome(
                trial.id, "done", flatten_metrics(summary["metrics"]), seconds
            )
        elif row.get("status") == "diverged":
            seconds = float(row.get("seconds") or 0.0)
            outcomes[trial.id] = Outcome(trial.id, "diverged", {}, seconds, row.get("message", ""))
        else:
            resumable = run.checkpoint.is_file()
            outcomes[trial.id] = Outcome(trial.id, "interrupted" if resumable else "pending")
            jobs.append(job(sweep, folder, trial.id, resume=resumable))
    return outcomes, jobs


def job(sweep: Plan, folder: SweepFolder, trial_id: str, resume: bool = False) -> Job:
    """A trial for a worker: its resolved config as plain data (for a worker process or another
    machine) and its run folder."""
    config = sweep.configs[trial_id].model_dump(mode="json")
    return Job(trial_id, config, str(folder.trial(trial_id).path), resume)


def check_same_config(run: RunFolder, digest: str, trial: Trial) -> None:
    """A trial folder trained from another config than the spec gives now cannot be kept."""
    if not run.has_config:
        return
    if run.read_config().digest() != digest:
        raise ConfigError(
            f"{run.path}: trained with another config than the sweep's spec now gives trial "
            f"{trial.id} (did the base config change?)",
            "restore the base config, or start a new sweep",
        )


def execute(
    sweep: Plan,
    folder: SweepFolder,
    outcomes: dict[str, Outcome],
    jobs: list[Job],
    engine,
    listener: SweepListener,
    search=None,
) -> SweepResult:
    """Hand `jobs` to the started backend, at most `capacity` at a time, asking the `search` for
    new points while the plan is incomplete; record outcomes as they come."""
    trials = {t.id: t for t in sweep.trials}
    runs = {t.id: folder.trial_path(t.id) for t in sweep.trials}

    def record(outcome: Outcome) -> None:
        outcomes[outcome.trial_id] = outcome
        write_trials(sweep, folder, outcomes, runs)
        trial = trials[outcome.trial_id]
        listener.on_trial(trial, outcome, trial_row(trial, outcome, runs[trial.id]))
        if search is not None:
            search.tell_finished(sweep, outcomes)

    def propose() -> None:
        for trial in sweep.add_point(search.ask(len(sweep.trials) // len(sweep.per_point))):
            trials[trial.id], runs[trial.id] = trial, folder.trial_path(trial.id)
            outcomes[trial.id] = Outcome(trial.id, "pending")
            queue.append(job(sweep, folder, trial.id))
        write_trials(sweep, folder, outcomes, runs)

    write_trials(sweep, folder, outcomes, runs)
    folder.write_summary(summarize(sweep, outcomes, runs))
    queue = deque(jobs)
    todo = len(jobs) + sweep.size - len(sweep.trials)
    with StopSignals() as stop:
        listener.begin(sweep, folder.path, todo)
        with listener:
            pending: dict = {}
            stopping = False
            while queue or pending or not (sweep.complete or stopping):
                if not (queue or sweep.complete or stopping) and len(pending) < engine.capacity:
                    propose()
                while queue and len(pending) < engine.capacity and not stop.requested():
                    next_job = queue.popleft()
                    pending[engine.submit(next_job)] = next_job
                for handle, outcome in engine.wait(pending, POLL_S) if pending else ():
                    del pending[handle]
                    record(outcome)
                if stop.requested() and not stopping:
                    engine.interrupt(stop.requested(), pending)
                    queue.clear()
                    stopping = True
    summary = summarize(sweep, outcomes, runs)
    folder.write_summary(summary)
    if stop.requested():
        raise SweepInterrupted(stop.requested(), folder.path)
    return SweepResult(folder.path, sweep, outcomes, summary)


def write_trials(sweep: Plan, folder: SweepFolder, outcomes: dict, runs: dict) -> None:
    rows = [trial_row(t, outcomes[t.id], runs[t.id]) for t in sweep.trials]
    folder.write_trials(trial_columns(sweep, outcomes), rows)
