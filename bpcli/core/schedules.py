r"""Learning-rate schedules: name -> Schedule, the rate α_e of each 0-based epoch e of E.

One interface: `rate(e)` before epoch e, `observe(e, record)` after it (reduce_on_plateau reads the
monitored metric there; the others are functions of e alone), and `state`/`load_state` for the
checkpoint, so a resumed run continues exactly. A schedule's settings are the keyword-only parameters
of its constructor with their defaults: the config accepts exactly those for that schedule (and no
other), so the signature is the one source of truth. `build` puts a linear warm-up in front of any
schedule.
"""

from __future__ import annotations

import inspect
import math

from bpcli.core.metrics import LOWER_IS_BETTER


class Schedule:
    """A learning-rate schedule from the base rate α over E epochs."""

    name = ""
    monitor: str | None = None
    """The metric the schedule watches (reduce_on_plateau), or None."""

    def __init__(self, lr: float, epochs: int):
        self.lr, self.epochs = lr, epochs

    def rate(self, epoch: int) -> float:
        """α_e for the 0-based epoch e."""
        raise NotImplementedError

    def observe(self, epoch: int, record: dict) -> None:
        """Epoch e ended with the metrics in `record` (a schedule of e alone ignores them)."""

    def state(self) -> dict:
        """What a checkpoint must keep to continue the schedule (JSON-ready)."""
        return {}

    def load_state(self, state: dict) -> None:
        """Continue from a `state()`."""


class Constant(Schedule):
    """α_e = α."""

    name = "constant"

    def rate(self, epoch):
        return self.lr


class Step(Schedule):
    """α_e = α γ^floor(e / step_size)."""

    name = "step"

    def __init__(self, lr, epochs, *, step_size=10, gamma=0.5):
        super().__init__(lr, epochs)
        self.step_size, self.gamma = step_size, gamma

    def rate(self, epoch):
        return self.lr * self.gamma ** (epoch // self.step_size)


class Exponential(Schedule):
    """α_e = α γ^e."""

    name = "exponential"

    def __init__(self, lr, epochs, *, gamma=0.5):
        super().__init__(lr, epochs)
        self.gamma = gamma

    def rate(self, epoch):
        return self.lr * self.gamma**epoch


class Cosine(Schedule):
    """α_e = α_min + (α − α_min)(1 + cos(π e / E)) / 2."""

    name = "cosine"

    def __init__(self, lr, epochs, *, min_lr=0.0):
        super().__init__(lr, epochs)
        self.min_lr = min_lr

    def rate(self, epoch):
        cosine = 1.0 + math.cos(math.pi * epoch / self.epochs)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * cosine


class ReduceOnPlateau(Schedule):
    r"""α_e = max(α_{e−1}·factor, α_min) after more than patience epochs without improvement, else α_{e−1}.

    As torch.optim.lr_scheduler.ReduceLROnPlateau: after each epoch the monitored metric m is compared
    with the best so far; it improves when m < best·(1 − threshold) (threshold_mode rel) or
    m < best − threshold (abs), for a metric where lower is better (loss, mae; the reverse for
    accuracy, r2). After more than `patience` epochs without improvement the rate becomes
    max(α·factor, min_lr) (a change smaller than 1e-8 is ignored) and the next `cooldown` epochs
    count no bad epochs. Its mode (min or max) follows from the metric.
    """

    name = "reduce_on_plateau"
    EPS = 1e-8

    def __init__(
        self,
        lr,
        epochs,
        *,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__(lr, epochs)
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr = cooldown, min_lr
        self.sign = 1.0 if monitor.removeprefix("val_") in LOWER_IS_BETTER else -1.0
        self.current, self.best, self.bad_epochs, self.cooling = lr, math.inf, 0, 0

    def rate(self, epoch):
        return self.current

    def improved(self, metric: float) -> bool:
        """Whether `metric` beats the best so far by the threshold (in the metric's direction)."""
        score = self.sign * metric  # lower is better from here on
        if self.threshold_mode == "rel":
            # min mode: m < best·(1 − t); max mode: m > best·(1 + t), i.e. −m < −best·(1 + t)
            return score < self.best * (1.0 - self.sign * self.threshold)
        return score < self.best - self.threshold

    def observe(self, epoch, record):
        metric = record[self.monitor]
        if self.improved(metric):
            self.best, self.bad_epochs = self.sign * metric, 0
        else:
            self.bad_epochs += 1
        if self.cooling > 0:
            self.cooling -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            reduced = max(self.current * self.factor, self.min_lr)
            if self.current - reduced > self.EPS:
                self.current = reduced
            self.cooling, self.bad_epochs = self.cooldown, 0

    def state(self):
        return {
            "lr": self.current,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "cooling": self.cooling,
        }

    def load_state(self, state):
        self.current, self.best = state["lr"], state["best"]
        self.bad_epochs, self.cooling = state["bad_epochs"], state["cooling"]


class Warmup(Schedule):
    """α_e = α (e + 1) / W for the first W epochs, then the wrapped schedule from its own epoch 0."""

    def __init__(self, inner: Schedule, warmup_epochs: int):
        super().__init__(inner.lr, inner.epochs + warmup_epochs)
        self.inner, self.warmup_epochs = inner, warmup_epochs
        self.name, self.monitor = inner.name, inner.monitor

    def rate(self, epoch):
        if epoch < self.warmup_epochs:
            return self.lr * (epoch + 1) / self.warmup_epochs
        return self.inner.rate(epoch - self.warmup_epochs)

    def observe(self, epoch, record):
        if epoch >= self.warmup_epochs:
            self.inner.observe(epoch - self.warmup_epochs, record)

    def state(self):
        return self.inner.state()

    def load_state(self, state):
        self.inner.load_state(state)


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in [Constant, Step, Exponential, Cosine, ReduceOnPlateau]
}


def settings(name: str) -> dict:
    """The settings a schedule takes, with their defaults."""
    parameters = inspect.signature(SCHEDULES[name]).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}


def build(name: str, lr: float, epochs: int, warmup_epochs: int = 0, **options) -> Schedule:
    """The schedule `name` with its settings over `epochs` epochs; with `warmup_epochs` W > 0, a
    linear warm-up over the first W epochs and the schedule over the remaining E − W (if any)."""
    schedule = SCHEDULES[name](lr, max(epochs - warmup_epochs, 1), **options)
    return Warmup(schedule, warmup_epochs) if warmup_epochs else schedule
