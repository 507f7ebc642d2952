r"""Gradient check: the gradient training steps along against central differences, in float64.

For an entry θ_i of a parameter tensor, the numerical gradient is
    n_i = (J(θ + ε e_i) − J(θ − ε e_i)) / (2ε),
where J = L + λ/2 Σ_l ||W_l||² is the full objective (weight decay only when it is coupled). The
analytic gradient a = θ − θ' is read off one plain SGD step θ' = θ − 1·g taken by the optimizer code
training runs (`Optimizer.step`: backprop's gradient from `MLP.backward`, plus λW where the decay
is coupled), so a wrong decay in the optimizer fails the check as a wrong derivative does.

Errors are judged per tensor T, against the tensor's own gradient scale s_T = max_i max(|a_i|, |n_i|):
    relative error_i = |a_i − n_i| / s_T,
and an entry fails when |a_i − n_i| > max(tol · s_T, η), with
    η = 4 u max(1, |J|) / ε        (u = 2^-52: a bound on the rounding noise of the central difference).
η / s_T is the tensor's noise level: the smallest relative error the check can tell from rounding.
So a 1 % error fails in any tensor whose gradients stand above 100 η (about 1e-8 at ε = 1e-5), however
small they are next to the other tensors'; rounding noise passes however small the gradient.
Entries whose ±ε step moves a pre-activation (or a residual, for mae) across a kink of a
non-differentiable function are reported as skipped: there the finite difference is meaningless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bpcli.core.losses import Loss
from bpcli.core.network import MLP
from bpcli.core.optimizers import SGD

NOISE = 4 * np.finfo(np.float64).eps
"""η = NOISE · max(1, |J|) / ε bounds the rounding error of a float64 central difference."""


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
    scale: float = 0.0
    """s_T: the largest |gradient| among the checked entries; errors are relative to it."""
    noise: float = 0.0
    """η / s_T: the relative error that rounding alone can cause; errors below it pass."""

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
            "scale": self.scale,
            "noise": self.noise,
            "passed": self.passed,
        }


class Objective:
    """J(θ) for a fixed batch, plus the kink pattern of the last evaluation."""

    def __init__(self, network: MLP, X, Y, loss: Loss, weight_decay: float):
        self.network, self.X, self.Y, self.loss, self.weight_decay = (
            network,
            X,
            Y,
            loss,
            weight_decay,
        )

    def __call__(self) -> float:
        self.network.forward(self.X)
        penalty = sum(float(np.sum(layer.W * layer.W)) for layer in self.network.layers)
        return self.network.loss(self.Y, self.loss) + 0.5 * self.weight_decay * penalty

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
        """∂J/∂θ as training applies it: θ − θ' for one plain SGD step of learning rate 1 taken
        with the optimizer's own code (backprop's gradient plus λW), on a copy of the network."""
        stepped = self.network.copy()
        stepped.forward(self.X)
        stepped.backward(self.Y, self.loss)
        before = {name: value.copy() for name, value in stepped.state().items()}
        SGD(weight_decay=self.weight_decay).step(stepped.parameters(), 1.0)
        return {name: before[name] - value for name, value in stepped.state().items()}


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
    eps: float = 1e-5,
    tol: float = 1e-6,
    max_params: int | None = None,
    seed: int = 0,
) -> list[TensorCheck]:
    """Compare backprop with central differences on a float64 copy of `network`; one row per tensor."""
    net64 = network.copy(np.float64)
    X64 = np.asarray(X, np.float64)
    Y64 = Y if loss.task == "classification" else np.asarray(Y, np.float64)
    objective = Objective(net64, X64, Y64, loss, weight_decay)
    analytic = objective.gradient()
    noise = NOISE * max(1.0, abs(objective())) / eps
    rng = np.random.default_rng(seed)
    return [
        _check_tensor(
            objective,
            p,
            analytic[p.name],
            eps,
            tol,
            entries_to_check(p.value.shape, max_params, rng),
            noise,
        )
        for p in net64.parameters()
    ]


def _check_tensor(objective: Objective, p, analytic, eps, tol, entries, noise) -> TensorCheck:
    """Central differences of the `entries` of one tensor, judged against the tensor's scale."""
    result = TensorCheck(p.name, p.value.shape, noise=noise)
    compared = []
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
        compared.append((index, analytic[index], (j_plus - j_minus) / (2 * eps)))
    result.checked = len(compared)
    result.scale = max((max(abs(a), abs(n)) for _, a, n in compared), default=0.0)
    scale = result.scale or np.finfo(np.float64).tiny
    result.noise = noise / scale
    for index, a, n in compared:
        abs_error = abs(a - n)
        rel_error = abs_error / scale
        result.max_abs_error = max(result.max_abs_error, abs_error)
        if rel_error >= result.max_rel_error:
            result.max_rel_error, result.worst_index = rel_error, index
        if abs_error > max(tol * scale, noise):
            result.failed.append(index)
    return result
