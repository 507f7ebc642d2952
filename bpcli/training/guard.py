r"""What stops training early and safely: divergence (non-finite loss, gradient or weight), stop requests
(Ctrl-C, SIGTERM) at batch boundaries, and global-norm gradient clipping.

`BatchGuard` checks every batch's loss before its step: a non-finite activation reaches the loss, and
so does, one batch later, a non-finite weight. Batches whose gradients are written out (the loop's
sampled batches, every batch when clipping; see loop.train_epoch) are also checked between backward
and the optimizer step: without clipping through the small bias gradients db_l = Σ_rows dZ_l, where
any NaN or inf of a backward pass shows up; with clipping through the global norm
||g||² = Σ_l ||dW_l||² + ||db_l||². The weights are scanned at epoch ends and when something already
went non-finite.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable

import numpy as np

from bpcli.core.blas import dot
from bpcli.core.network import MLP, Parameter
from bpcli.errors import BpcliError, Interrupted


class TrainingStopped(BpcliError):
    """Training ended before its last epoch; `state` holds the last good state (set by `fit`)."""

    def __init__(self, message: str, hint: str | None = None, epoch: int = 0, batch: int = 0):
        super().__init__(message, hint)
        self.epoch, self.batch = epoch, batch
        self.state = None


class TrainingDiverged(TrainingStopped):
    """The loss, a gradient or a weight became NaN or infinite; the run is not a success (exit 1)."""

    exit_code = 1


class TrainingInterrupted(TrainingStopped, Interrupted):
    """A stop signal arrived; training stopped at a batch boundary (exit 128 + signal: 130, 143)."""

    def __init__(self, signum: int, epoch: int, batch: int):
        name = signal.Signals(signum).name
        where = f"during epoch {epoch}, batch {batch}" if batch else f"before epoch {epoch}"
        super().__init__(f"interrupted by {name} {where}", epoch=epoch, batch=batch)
        self.signum = signum
        self.exit_code = 128 + signum


def first_nonfinite(network: MLP) -> str | None:
    """The first tensor, in layer order, holding NaN or inf: a weight, else a gradient; None if all finite."""
    for kind, pick in (("weight", lambda p: p.value), ("gradient of", lambda p: p.grad)):
        for p in network.parameters():
            if not np.isfinite(pick(p)).all():
                layer = p.name[1:]
                return f"{kind} {p.name} (layer {layer})"
    return None


def squared_norm(arrays) -> float:
    """Σ ||a||² over the arrays, without a copy; inf or NaN if any element is non-finite."""
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for a in arrays:
            total += dot(a, a)
    if math.isinf(total) and all(np.isfinite(a).all() for a in arrays):
        # float32 dot products overflow past ~1.8e19 per element; recount in float64
        total = sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)
    return total


class BatchGuard:
    """Stop requests, divergence and clipping: `check_loss` for every batch, `check_gradients` for
    those whose gradients are written out; guard(batch_loss, params) does both."""

    def __init__(
        self,
        network: MLP,
        clip_norm: float | None = None,
        should_stop: Callable[[], int | None] | None = None,
        hint: str | None = None,
    ):
        self.network, self.clip_norm, self.should_stop, self.hint = (
            network,
            clip_norm,
            should_stop,
            hint,
        )
        self.epoch = 0
        self.batch = 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.batch = epoch, 0
        self.check_stop()

    def check_stop(self) -> None:
        signum = self.should_stop() if self.should_stop else None
        if signum:
            raise TrainingInterrupted(signum, self.epoch, self.batch)

    def __call__(self, batch_loss: float, params: list[Parameter]) -> None:
        self.check_loss(batch_loss)
        self.check_gradients(params)

    def check_loss(self, batch_loss: float) -> None:
        """A new batch: stop if asked to, or if its loss is not finite."""
        self.batch += 1
        self.check_stop()
        if not math.isfinite(batch_loss):
            self.diverged(f"the loss is {batch_loss}")

    def check_gradients(self, params: list[Parameter]) -> None:
        """The batch's gradients, written by backward: stop if one is not finite; clip them."""
        if self.clip_norm is None:
            # Cheap and sufficient: NaN or inf anywhere in dZ_l reaches db_l = Σ_rows dZ_l;
            # only clipping needs the norm of every dW_l.
            norm_sq = squared_norm([layer.db for layer in self.network.layers])
        else:
            norm_sq = squared_norm([p.grad for p in params])
        if not math.isfinite(norm_sq):
            self.diverged("a gradient is non-finite")
        if self.clip_norm is not None:
            norm = math.sqrt(norm_sq)
            if norm > self.clip_norm:
                scale = self.clip_norm / (norm + 1e-6)  # as torch.nn.utils.clip_grad_norm_
                for p in params:
                    p.grad *= p.grad.dtype.type(scale)

    def check_epoch(self, epoch_loss: float) -> None:
        """At an epoch end: the epoch loss and every weight must be finite."""
        self.check_stop()
        if not math.isfinite(epoch_loss):
            self.diverged(f"the epoch loss is {epoch_loss}", batch=False)
        if not math.isfinite(squared_norm([p.value for p in self.network.parameters()])):
            self.diverged("a weight is non-finite", batch=False)

    def diverged(self, what: str, batch: bool = True) -> None:
        where = (
            f"epoch {self.epoch}, batch {self.batch}" if batch else f"the end of epoch {self.epoch}"
        )
        culprit = first_nonfinite(self.network)
        detail = f"; first non-finite tensor: {culprit}" if culprit else ""
        raise TrainingDiverged(
            f"training diverged at {where}: {what}{detail}",
            self.hint,
            epoch=self.epoch,
            batch=self.batch if batch else 0,
        )
