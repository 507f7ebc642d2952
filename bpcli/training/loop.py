"""The training loop: mini-batches, epochs, validation, early stopping and the per-batch guard.

It reports each epoch through a callback and never prints; the caller decides what to show.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bpcli.config import Config
from bpcli.core.metrics import LOWER_IS_BETTER, MetricAccumulator, evaluate
from bpcli.core.network import MLP
from bpcli.core.schedules import SCHEDULES
from bpcli.data.splits import Split
from bpcli.errors import ConfigError
from bpcli.training.experiment import Experiment
from bpcli.training.guard import BatchGuard, TrainingStopped
from bpcli.training.state import capture, restore


@dataclass
class History:
    """Per-epoch records (dicts of metrics) and how training ended: the best epoch (by BestRule), its
    monitored value, and whether the final weights were restored from it (early stopping)."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: str | None = None
    best_value: float | None = None
    restored_best: bool = False
    stopped_early: bool = False


@dataclass(frozen=True)
class BestRule:
    """Which epoch is the best: the one whose `monitor` is lowest (loss, mae) or highest (accuracy,
    r2), where only a change by more than `min_delta` counts as an improvement (the first epoch of a
    tie wins). The one definition of "best epoch": early stopping restores its weights, the summary
    records it, inspect and the final display read it from there."""

    monitor: str
    min_delta: float = 0.0

    @classmethod
    def of(cls, config: Config, with_validation: bool) -> BestRule:
        """Early stopping's monitor and min_delta; without early stopping, val_loss (or loss)."""
        stopping = config.training.early_stopping
        if stopping is not None:
            return cls(stopping.monitor, stopping.min_delta)
        return cls("val_loss" if with_validation else "loss")

    @property
    def sign(self) -> float:
        return 1.0 if self.monitor.removeprefix("val_") in LOWER_IS_BETTER else -1.0

    def improves(self, record: dict, best: float) -> bool:
        """Whether `record` beats the signed score `best` (+inf before the first epoch)."""
        return self.sign * record[self.monitor] < best - self.min_delta

    def best(self, records: list[dict]) -> tuple[int | None, float | None]:
        """The best epoch among `records` and its monitored value; (None, None) if none is finite."""
        best, chosen = float("inf"), None
        for record in records:
            if self.improves(record, best):
                best, chosen = self.sign * record[self.monitor], record
        return (None, None) if chosen is None else (chosen["epoch"], chosen[self.monitor])


def learning_rate(config: Config, epoch: int) -> float:
    """The scheduled learning rate for a 0-based epoch."""
    opt, schedule = config.optimizer, config.optimizer.schedule
    settings = schedule.model_dump(exclude={"name"})
    return SCHEDULES[schedule.name](opt.lr, epoch, config.training.epochs, **settings)


class BatchLoader:
    """Mini-batches of a split as (features, rows, Y): the network gathers features[rows] itself,
    straight into its input buffer; Y is gathered into a reused buffer (no data copies)."""

    def __init__(self, split: Split, batch_size: int, shuffle: bool, rng: np.random.Generator):
        self.split, self.batch_size, self.shuffle, self.rng = split, batch_size, shuffle, rng
        rows = min(batch_size, len(split))
        self.Y_buffer = np.empty((rows, *split.Y.shape[1:]), split.Y.dtype)

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-len(self.split) // self.batch_size)

    def __iter__(self):
        split, n = self.split, len(self.split)
        order = self.rng.permutation(n) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            if order is None:
                yield split.features, split.rows[start:stop], split.Y[start:stop]
                continue
            picked = order[start:stop]
            # mode="clip" (the rows are valid) lets numpy write straight into the buffer
            Y = np.take(split.Y, picked, axis=0, out=self.Y_buffer[: stop - start], mode="clip")
            yield split.features, split.rows[picked], Y


GRADIENT_SAMPLES = 8
"""Batches per epoch (at least) that take the plain step, so that their gradients can be inspected."""


def sampled(index: int, batches: int) -> bool:
    """Whether the 0-based batch `index` of an epoch of `batches` is sampled: the first, then every
    (batches // GRADIENT_SAMPLES)-th; every batch of a short epoch."""
    return index % max(1, batches // GRADIENT_SAMPLES) == 0


def train_epoch(
    experiment: Experiment,
    batches: BatchLoader,
    lr: float,
    guard=None,
    observer=None,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict:
    """One pass over the training split; returns the running train metrics of the epoch.

    Most batches take the optimizer's fused step (Optimizer.fused_step: each layer is updated inside
    backward, no gradient array is written). The sampled ones (`sampled`), every batch when the
    gradients are clipped, every batch of an optimizer without a fused form, and a batch whose loss
    is not finite take the plain step: backward writes dW_l, db_l; `observer.after_backward(network)`
    sees them; the guard checks them (and clips, see guard.BatchGuard); `optimizer.step` applies
    them; `observer.after_step(network)` sees the new weights. Both steps follow the same rule; they
    round differently. `on_batch(done, total)`, if given, follows each step (a live display; it
    must be cheap).
    """
    network, loss, optimizer = experiment.network, experiment.loss, experiment.optimizer
    params = network.parameters()
    accumulator = MetricAccumulator(experiment.task, loss, experiment.target_std)
    total = len(batches)
    always_plain = not optimizer.fuses or (guard is not None and guard.clip_norm is not None)
    for done, (features, rows, Y_batch) in enumerate(batches, start=1):
        Yhat = network.forward(features, rows)
        batch_loss = network.loss(Y_batch, loss)
        accumulator.update(Y_batch, Yhat, batch_loss)
        if always_plain or sampled(done - 1, total) or not math.isfinite(batch_loss):
            network.backward(Y_batch, loss)
            if observer is not None:
                observer.after_backward(network)
            if guard is not None:
                guard(batch_loss, params)
            optimizer.step(params, lr)
            if observer is not None:
                observer.after_step(network)
        else:
            if guard is not None:
                guard.check_loss(batch_loss)
            optimizer.fused_step(network, Y_batch, loss, lr)
        if on_batch is not None:
            on_batch(done, total)
    return accumulator.result()


class EarlyStopper:
    """Tracks the monitored metric; says when `patience` epochs passed without improvement."""

    def __init__(self, settings, available: list[str]):
        if settings.monitor not in available:
            raise ConfigError(
                f"training.early_stopping.monitor: '{settings.monitor}' is not measured in this run",
                f"available: {', '.join(available)}",
            )
        self.settings = settings
        self.rule = BestRule(settings.monitor, settings.min_delta)
        self.best = float("inf")
        self.best_epoch: int | None = None
        self.best_state: dict | None = None
        self.waited = 0

    def update(self, epoch: int, record: dict, network: MLP) -> bool:
        """Record an epoch; True when training should stop."""
        if self.rule.improves(record, self.best):
            self.best = self.rule.sign * record[self.settings.monitor]
            self.best_epoch, self.waited = epoch, 0
            if self.settings.restore_best:
                self.best_state = {k: v.copy() for k, v in network.state().items()}
            return False
        self.waited += 1
        return self.waited >= self.settings.patience


def metric_names(task: str, with_validation: bool) -> list[str]:
    names = ["loss", "accuracy"] if task != "regression" else ["loss", "mae", "r2"]
    return names + [f"val_{n}" for n in names] if with_validation else names


class EpochRunner:
    """One training epoch exactly as `fit` runs it: shuffled batches, the batch guard, the observer."""

    def __init__(self, experiment: Experiment, should_stop=None, observer=None, on_batch=None):
        config = experiment.config
        training = config.training
        self.experiment, self.observer, self.on_batch = experiment, observer, on_batch
        self.batches = BatchLoader(
            experiment.data.splits["train"],
            training.batch_size,
            training.shuffle,
            experiment.shuffle_rng,
        )
        hint = (
            f"lower optimizer.lr (it is {config.optimizer.lr}), set training.clip_grad_norm, "
            "or standardize the data"
        )
        self.guard = BatchGuard(experiment.network, training.clip_grad_norm, should_stop, hint)

    def __call__(self, epoch: int) -> dict:
        """Train the 0-based `epoch`; returns its record: epoch number, lr and train metrics."""
        lr = learning_rate(self.experiment.config, epoch)
        self.guard.start_epoch(epoch + 1)
        metrics = train_epoch(
            self.experiment, self.batches, lr, self.guard, self.observer, self.on_batch
        )
        self.guard.check_epoch(metrics["loss"])
        return {"epoch": epoch + 1, "lr": lr, **metrics}


@np.errstate(over="ignore", invalid="ignore")  # divergence is detected and reported by the guard
def fit(
    experiment: Experiment,
    on_epoch: Callable[[dict], None] | None = None,
    *,
    resume=None,
    on_checkpoint=None,
    should_stop: Callable[[], int | None] | None = None,
    observer=None,
    on_batch: Callable[[int, int], None] | None = None,
) -> History:
    """Train for the configured epochs (or until early stopping); returns the history.

    resume: a TrainingState to continue from (checked with runs.checkpoint.check_state).
    on_checkpoint(state): called every training.checkpoint_every epochs and after the last epoch.
    should_stop(): polled at batch boundaries; a signal number stops training (TrainingInterrupted).
    A stop (interrupt or divergence) carries the last good state, at the last epoch end, as `.state`.
    observer: gets `after_backward(network)` and `after_step(network)` on the sampled batches (see
    train_epoch) and `end_epoch(record)` per epoch.
    on_batch(done, total): called after each optimizer step (cheap: a live display throttles itself).
    """
    config, network = experiment.config, experiment.network
    training = config.training
    validation = experiment.data.splits["validation"]
    stopper = None
    if training.early_stopping:
        stopper = EarlyStopper(
            training.early_stopping, metric_names(experiment.task, len(validation) > 0)
        )
    history = History()
    if resume is not None:
        restore(experiment, stopper, history, resume)
    run_epoch = EpochRunner(experiment, should_stop, observer, on_batch)
    start = len(history.epochs)
    good = capture(experiment, stopper, history, start)
    for epoch in range(start, start if history.stopped_early else training.epochs):
        started = time.perf_counter()
        try:
            record = run_epoch(epoch)
        except TrainingStopped as stop:
            stop.state = good
            raise
        if len(validation):
            scores = split_metrics(experiment, validation)
            record.update({f"val_{k}": v for k, v in scores.items()})
        record["seconds"] = time.perf_counter() - started
        history.epochs.append(record)
        if observer is not None:
            observer.end_epoch(record)
        if on_epoch:
            on_epoch(record)
        history.stopped_early = bool(stopper and stopper.update(epoch + 1, record, network))
        good = capture(experiment, stopper, history, epoch + 1)
        every = training.checkpoint_every
        last = history.stopped_early or epoch + 1 == training.epochs
        if on_checkpoint and (last or (every and (epoch + 1) % every == 0)):
            on_checkpoint(good)
        if history.stopped_early:
            break
    rule = BestRule.of(config, len(validation) > 0)
    history.best_metric = rule.monitor
    history.best_epoch, history.best_value = rule.best(history.epochs)
    if stopper and stopper.best_state is not None:
        network.load_state(stopper.best_state)
        history.restored_best = True
    return history


def split_metrics(experiment: Experiment, split: Split) -> dict[str, float]:
    """Loss and metrics of the network on one split, its rows gathered chunk by chunk (no copy)
    (regression: in the target's own units)."""
    return evaluate(
        experiment.network,
        split.features,
        split.Y,
        experiment.loss,
        experiment.task,
        target_std=experiment.target_std,
        rows=split.rows,
    )


def final_metrics(experiment: Experiment) -> dict[str, dict]:
    """Loss and metrics of the final network on every non-empty split."""
    return {
        name: split_metrics(experiment, split)
        for name, split in experiment.data.splits.items()
        if len(split)
    }
