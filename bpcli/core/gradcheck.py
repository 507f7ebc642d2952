r"""Gradient check: backprop's gradient against central differences, in float64.

For an entry θ_i of a parameter tensor, the numerical gradient is
    n_i = (J(θ + ε e_i) − J(θ − ε e_i)) / (2ε),
where J = L + λ/2 Σ_l ||W_l||² is the full objective (weight decay only when it is coupled).
The analytic gradient a_i comes from `MLP.backward`. An entry's relative error is
    |a_i − n_i| / max(|a_i|, |n_i|, floor),
the floor keeping entries whose gradient is ~0 from dividing the rounding noise of the finite
difference by ~0: below it the error is in effect absolute (|a − n| < tol · floor). That noise is
about u·|J|/ε (u the float64 unit roundoff), so it grows with the objective: the floor is
1e-3 · max(1, |J|), and a large unscaled loss (a regression target around 150) is held to the
same standard as a loss around 1.
Entries whose ±ε step moves a pre-activation (or a residual, for mae) across a kink of a
non-differentiable function are reported as skipped: there the finite difference is meaningless.
The network runs as in training: layers with dropout apply a mask, the same fixed mask (drawn from a
generator re-seeded for every evaluation) in J(θ ± ε e_i) and in the backward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bpcli.core.losses import Loss
from bpcli.core.network import MLP

RELATIVE_FLOOR = 1e-3


@dataclass
class TensorCheck:
    """The comparison for one parameter tensor (W1, b1, …)."""

    name: str
    shape: tuple[int, ...]
    checked: int = 0
    skipped: int = 0
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst_index: tuple[int, ...] | None = None
    failed: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "checked": self.checked,
            "skipped": self.skipped,
            "max_abs_error": self.max_abs_error,
            "max_rel_error": self.max_rel_error,
            "passed": self.passed,
        }


class Objective:
    """J(θ) for a fixed batch (and fixed dropout masks), plus the kink pattern of the last evaluation."""

    def __init__(
        self, network: MLP, X, Y, loss: Loss, weight_decay: float, weights=None, mask_seed: int = 0
    ):
        self.network, self.X, self.Y, self.loss, self.weight_decay = (
            network,
            X,
            Y,
            loss,
            weight_decay,
        )
        self.weights, self.mask_seed = weights, mask_seed

    def __call__(self) -> float:
        self.network.forward(self.X, np.random.default_rng(self.mask_seed))
        penalty = sum(float(np.sum(layer.W * layer.W)) for layer in self.network.layers)
        loss = self.network.loss(self.Y, self.loss, self.weights)
        return loss + 0.5 * self.weight_decay * penalty

    def kink_sides(self) -> list[np.ndarray]:
        """Which side of each kink every pre-activation (and mae residual) lies on, now."""
        sides = []
        last_pass = self.network.last_pass
        for layer, Z in zip(self.network.layers, last_pass.Z, strict=True):
            sides.extend(Z > kink for kink in layer.activation.kinks)
        if self.loss.kinks:
            residual = last_pass.A[-1] - self.Y
            sides.extend(residual > kink for kink in self.loss.kinks)
        return sides

    def gradient(self) -> dict[str, np.ndarray]:
        """Backprop's ∂J/∂θ for every tensor."""
        self()
        self.network.backward(self.Y, self.loss, self.weights)
        grads = {}
        for p in self.network.parameters():
            decay = self.weight_decay * p.value if p.decay else 0.0
            grads[p.name] = p.grad + decay
        return grads


def entries_to_check(shape, max_params: int | None, rng: np.random.Generator) -> list[tuple]:
    """Every index of a tensor, or `max_params` of them drawn without replacement."""
    indices = list(np.ndindex(*shape))
    if max_params is None or max_params >= len(indices):
        return indices
    chosen = rng.choice(len(indices), size=max_params, replace=False)
    return [indices[i] for i in sorted(chosen)]


def check_gradients(
    network: MLP,
    X: np.ndarray,
    Y: np.ndarray,
    loss: Loss,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
    tol: float = 1e-6,
    max_params: int | None = None,
    seed: int = 0,
    weights: np.ndarray | None = None,
) -> list[TensorCheck]:
    """Compare backprop with central differences on a float64 copy of `network`; one row per tensor.

    `weights`: the rows' weights in the loss (class and sample weights), if any.
    """
    net64 = network.copy(np.float64)
    X64 = np.asarray(X, np.float64)
    Y64 = Y if loss.task == "classification" else np.asarray(Y, np.float64)
    W64 = None if weights is None else np.asarray(weights, np.float64)
    objective = Objective(net64, X64, Y64, loss, weight_decay, W64)
    analytic = objective.gradient()
    floor = RELATIVE_FLOOR * max(1.0, abs(objective()))
    rng = np.random.default_rng(seed)
    return [
        _check_tensor(
            objective,
            p,
            analytic[p.name],
            eps,
            tol,
            entries_to_check(p.value.shape, max_params, rng),
            floor,
        )
        for p in net64.parameters()
    ]


def _check_tensor(
    objective: Objective, p, analytic: np.ndarray, eps, tol, entries, floor=RELATIVE_FLOOR
) -> TensorCheck:
    result = TensorCheck(p.name, p.value.shape)
    for index in entries:
        original = p.value[index]
        p.value[index] = original + eps
        j_plus, sides_plus = objective(), objective.kink_sides()
        p.value[index] = original - eps
        j_minus, sides_minus = objective(), objective.kink_sides()
        p.value[index] = original
        if any(np.any(a != b) for a, b in zip(sides_plus, sides_minus, strict=True)):
            result.skipped += 1
            continue
        numeric = (j_plus - j_minus) / (2 * eps)
        abs_error = abs(analytic[index] - numeric)
        rel_error = abs_error / max(abs(analytic[index]), abs(numeric), floor)
        result.checked += 1
        result.max_abs_error = max(result.max_abs_error, abs_error)
        if rel_error >= result.max_rel_error:
            result.max_rel_error, result.worst_index = rel_error, index
        if rel_error > tol:
            result.failed.append(index)
    return result
