"""One trial of a sweep, run inside a worker: train (or resume) a config into a run folder, in-process
(runs.session, what bpcli.api.train and bpcli.api.resume call), and tell the driver how it went.

Diverged, failed and interrupted trials are outcomes, not exceptions: a sweep goes on without them.
A Ray worker trains in a temporary folder and ships the folder's files back with its outcome, so the
trial folders are written on the machine that runs the sweep.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bpcli.config import validate
from bpcli.core.metrics import flatten_metrics
from bpcli.errors import BpcliError
from bpcli.runs import session
from bpcli.runs.folder import RunFolder
from bpcli.sweeps import worker
from bpcli.training.guard import TrainingDiverged, TrainingInterrupted

STATUSES = ("done", "diverged", "failed", "interrupted", "pending")
"""done, diverged and failed are results; interrupted (a checkpoint to resume) and pending are not."""


@dataclass
class Job:
    """What a worker needs for one trial: its resolved config (as a document: pickles anywhere),
    its run folder, fresh or resumed."""

    trial_id: str
    config: dict
    folder: str
    resume: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    """The run folder's files, sent to a worker on another machine (Ray) to resume from."""


@dataclass
class Outcome:
    trial_id: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    message: str = ""
    files: dict[str, bytes] | None = None
    """The run folder's files, from a worker on another machine (Ray)."""


def execute(job: Job, folder: Path) -> Outcome:
    """Train or resume `job` in `folder` (no listener: a trial says nothing while it trains)."""
    started = time.perf_counter()

    def outcome(status: str, **details) -> Outcome:
        return Outcome(job.trial_id, status, seconds=time.perf_counter() - started, **details)

    try:
        if job.resume:
            run = session.resume(folder)
        else:
            run = session.train(validate(job.config), out=folder, force=True)
    except TrainingDiverged as error:
        return outcome("diverged", message=error.message)
    except TrainingInterrupted as error:
        worker.stopped.append(error.signum)
        return outcome("interrupted")
    except BpcliError as error:
        return outcome("failed", message=error.message)
    return outcome("done", metrics=flatten_metrics(run.summary["metrics"]))


def run_in_folder(job: Job) -> Outcome:
    """A local worker's task: the trial in its own folder, unless this worker was told to stop."""
    if worker.stopped:
        return Outcome(job.trial_id, "interrupted" if job.resume else "pending")
    return execute(job, Path(job.folder))


def run_shipped(job: Job) -> Outcome:
    """A Ray task: the trial in a temporary folder (seeded with `job.files`), its files returned."""
    folder = RunFolder(tempfile.mkdtemp(prefix="bpcli-trial-"))
    try:
        folder.replace_files(job.files)
        result = execute(job, folder.path)
        result.files = folder.read_files()
        return result
    finally:
        shutil.rmtree(folder.path, ignore_errors=True)
