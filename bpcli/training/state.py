"""The training state after an epoch: what `fit` needs to continue as if it had never stopped.

The weights, the optimizer's moments and step count, the shuffle generator's state, the early-stopping
state (with the best weights) and the history so far; the epoch count is also the learning-rate
schedule's position. `capture` snapshots it, `restore` puts it back; runs/checkpoint.py stores it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass
class TrainingState:
    """Everything `fit` needs to continue after `epoch` completed epochs (arrays are copies)."""

    epoch: int
    weights: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    optimizer_steps: int
    rng_state: dict
    history: list[dict]
    stopper: dict | None = None
    best_weights: dict[str, np.ndarray] | None = None
    stopped_early: bool = False

    def reopened(self) -> TrainingState:
        """This state of an early-stopped run, set to train on: not stopped, and early stopping's
        patience counting afresh from here (its best epoch, value and weights are kept)."""
        stopper = None if self.stopper is None else {**self.stopper, "waited": 0}
        return replace(self, stopped_early=False, stopper=stopper)


def capture(experiment, stopper, history, epoch: int) -> TrainingState:
    """Snapshot the training state after `epoch` epochs (copies, so training may go on)."""
    return TrainingState(
        epoch=epoch,
        weights={k: v.copy() for k, v in experiment.network.state().items()},
        optimizer={k: v.copy() for k, v in experiment.optimizer.state.items()},
        optimizer_steps=experiment.optimizer.steps,
        rng_state=experiment.shuffle_rng.bit_generator.state,
        history=list(history.epochs),
        stopper=None
        if stopper is None
        else {"best": stopper.best, "best_epoch": stopper.best_epoch, "waited": stopper.waited},
        # the stopper replaces best_state on improvement, never mutates it: sharing is safe
        best_weights=None if stopper is None else stopper.best_state,
        stopped_early=history.stopped_early,
    )


def restore(experiment, stopper, history, state: TrainingState) -> None:
    """Put a (checked) state back into the experiment, the early stopper and the history, in place."""
    experiment.network.load_state(state.weights)
    experiment.optimizer.state = {k: v.copy() for k, v in state.optimizer.items()}
    experiment.optimizer.steps = state.optimizer_steps
    experiment.shuffle_rng.bit_generator.state = state.rng_state
    history.epochs = list(state.history)
    history.stopped_early = state.stopped_early
    if stopper is not None and state.stopper is not None:
        stopper.best = state.stopper["best"]
        stopper.best_epoch = state.stopper["best_epoch"]
        stopper.waited = state.stopper["waited"]
        if state.best_weights is not None:
            stopper.best_state = {k: v.copy() for k, v in state.best_weights.items()}
