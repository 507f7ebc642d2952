r"""Backward-pass diagnostics: per epoch and layer, gradient norms, update ratios, dead and saturated units.

`Diagnostics` observes `fit`: after the backward pass of each sampled batch (the first of the epoch,
then evenly spaced, at least 8 per epoch; every batch of a short epoch; see loop.train_epoch) it
folds the batch into running sums (a few cheap NumPy reductions per layer); at the end of each epoch
it closes one row per layer, checks the rows for vanishing or exploding gradients and dead ReLUs,
and reports each problem once, with a hint.
The run folder saves the rows; `alerts` re-derives the warnings from them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bpcli.core.blas import dot

COLUMNS = (
    "epoch",
    "layer",
    "activation",
    "units",
    "grad_norm",
    "update_ratio",
    "dead_fraction",
    "saturated_fraction",
)
SATURATING = frozenset({"sigmoid", "tanh"})
SATURATION_Z = 4.0
"""|z| beyond which sigmoid and tanh are flat: f'(4) is 0.018 for sigmoid and 0.0013 for tanh."""
VANISHING_FACTOR = 1e-6
EXPLODING_FACTOR = 1e4
DEAD_LIMIT = 0.5

HINTS = {
    "dead_relu": "lower optimizer.lr, use init: he_normal, or try activation: leaky_relu",
    "vanishing": "use init: he_normal (relu) or xavier_normal (tanh), activation: leaky_relu, "
    "or fewer layers",
    "exploding": "lower optimizer.lr, standardize the data, or use fewer layers",
}


@dataclass(frozen=True)
class Alert:
    """One problem seen in the backward pass: its kind, where and when, and what to try."""

    kind: str
    epoch: int
    layer: int
    message: str

    @property
    def hint(self) -> str:
        return HINTS[self.kind]


def epoch_alerts(rows: list[dict], first_norms: dict[int, float]) -> list[Alert]:
    r"""Problems in one epoch's rows, judged against each layer's first-epoch gradient norm.

    vanishing: ‖∇W‖ < 1e-6 · ‖∇W‖₁;  exploding: ‖∇W‖ > 1e4 · ‖∇W‖₁ or not finite;
    dead ReLUs: more than half of a hidden layer's units never active in the epoch's sampled batches.
    """
    alerts = []
    for row in rows:
        epoch, layer, norm = row["epoch"], row["layer"], row["grad_norm"]
        where = f"epoch {epoch}, layer {layer} ({row['activation']})"
        first = first_norms.get(layer, 0.0)
        comparable = 0 < first < math.inf
        if not math.isfinite(norm) or (comparable and norm > EXPLODING_FACTOR * first):
            message = (
                f"{where}: the weight gradient explodes (norm {norm:.3g}, first epoch {first:.3g})"
            )
            alerts.append(Alert("exploding", epoch, layer, message))
        elif comparable and norm < VANISHING_FACTOR * first:
            message = (
                f"{where}: the weight gradient vanishes (norm {norm:.3g}, first epoch {first:.3g})"
            )
            alerts.append(Alert("vanishing", epoch, layer, message))
        dead = row.get("dead_fraction")
        if dead is not None and dead > DEAD_LIMIT:
            message = f"{where}: {dead:.0%} of the ReLU units are dead (never active this epoch)"
            alerts.append(Alert("dead_relu", epoch, layer, message))
    return alerts


def alerts(rows: list[dict]) -> list[Alert]:
    """The first alert of each kind and layer over all epochs' rows (as warned during training)."""
    first = min((row["epoch"] for row in rows), default=0)
    first_norms = {row["layer"]: row["grad_norm"] for row in rows if row["epoch"] == first}
    seen, found = set(), []
    for alert in epoch_alerts(rows, first_norms):
        if (alert.kind, alert.layer) not in seen:
            seen.add((alert.kind, alert.layer))
            found.append(alert)
    return found


class Diagnostics:
    """Watches training (`fit(..., observer=Diagnostics(network))`); one row per epoch and layer.

    `warn(message, hint)` is called once per kind of problem and layer, when it first appears.
    """

    def __init__(self, network, warn: Callable[[str, str], None] | None = None):
        self.network, self.warn = network, warn
        self.rows: list[dict] = []
        self.alerts: list[Alert] = []
        self.first_norms: dict[int, float] = {}
        layers = network.layers
        hidden = range(len(layers) - 1)
        self.relu = [i for i in hidden if layers[i].activation.name == "relu"]
        self.saturating = [i for i in hidden if layers[i].activation.name in SATURATING]
        self.snapshots = [np.empty_like(layer.W) for layer in layers]
        self._reset()

    def _reset(self) -> None:
        self.batches = 0
        self.grad_sq = [0.0] * len(self.network.layers)
        self.active = {i: np.zeros(self.network.layers[i].W.shape[1], bool) for i in self.relu}
        self.pending = list(self.relu)
        self.saturated = dict.fromkeys(self.saturating, 0)
        self.seen = dict.fromkeys(self.saturating, 0)
        self.ratios: list[float] | None = None

    def after_backward(self, network) -> None:
        """Fold a sampled batch in: called after `backward` (gradients fresh), before the step."""
        self.batches += 1
        layers, Z = network.layers, network.last_pass.Z
        for i, layer in enumerate(layers):
            self.grad_sq[i] += dot(layer.dW, layer.dW)
        for i in self.pending:
            active = np.logical_or(self.active[i], (Z[i] > 0).any(axis=0), out=self.active[i])
            if active.all():  # nothing left to learn about this layer until the next epoch
                self.pending = [j for j in self.pending if j != i]
        for i in self.saturating:
            self.saturated[i] += int(np.count_nonzero(np.abs(Z[i]) > SATURATION_Z))
            self.seen[i] += Z[i].size
        # The update ratio is sampled on the epoch's first step: snapshot W before it, compare after.
        if self.batches == 1:
            for snapshot, layer in zip(self.snapshots, layers, strict=True):
                np.copyto(snapshot, layer.W)

    def after_step(self, network) -> None:
        """Called after the optimizer step of a sampled batch: measures the epoch's first step."""
        if self.ratios is None:
            self._measure_update()

    def _measure_update(self) -> None:
        r"""‖ΔW‖ / ‖W‖ of the sampled step, per layer (healthy training is often near 1e-3)."""
        self.ratios = []
        with np.errstate(
            over="ignore", invalid="ignore"
        ):  # a diverging run is reported, not warned
            for snapshot, layer in zip(self.snapshots, self.network.layers, strict=True):
                before = math.sqrt(dot(snapshot, snapshot))
                np.subtract(layer.W, snapshot, out=snapshot)
                step = math.sqrt(dot(snapshot, snapshot))
                self.ratios.append(step / before if before > 0 else math.nan)

    def end_epoch(self, record: dict) -> None:
        """Close the epoch: one row per layer, then warn about problems not reported before."""
        if self.batches == 0:
            return
        rows = [self._row(record["epoch"], i) for i in range(len(self.network.layers))]
        if not self.first_norms:
            self.first_norms = {row["layer"]: row["grad_norm"] for row in rows}
        reported = {(a.kind, a.layer) for a in self.alerts}
        for alert in epoch_alerts(rows, self.first_norms):
            if (alert.kind, alert.layer) not in reported:
                self.alerts.append(alert)
                if self.warn:
                    self.warn(alert.message, alert.hint)
        self.rows.extend(rows)
        self._reset()

    def _row(self, epoch: int, i: int) -> dict:
        layer = self.network.layers[i]
        row = {
            "epoch": epoch,
            "layer": i + 1,
            "activation": layer.activation.name,
            "units": layer.W.shape[1],
            "grad_norm": math.sqrt(self.grad_sq[i] / self.batches),
            "update_ratio": self.ratios[i] if self.ratios else math.nan,  # nan: no step seen
            "dead_fraction": None,
            "saturated_fraction": None,
        }
        if i in self.active:
            row["dead_fraction"] = 1.0 - float(self.active[i].mean())
        if i in self.saturated:
            row["saturated_fraction"] = self.saturated[i] / max(self.seen[i], 1)
        return row

    def resume(self, rows: list[dict], epoch: int) -> None:
        """Continue a resumed run from its saved rows: those up to `epoch`, first-epoch norms and
        the warnings given so far."""
        self.rows = [row for row in rows if row["epoch"] <= epoch]
        first = min((row["epoch"] for row in self.rows), default=None)
        self.first_norms = {r["layer"]: r["grad_norm"] for r in self.rows if r["epoch"] == first}
        self.alerts = alerts(self.rows)
