r"""Optimizers: name -> class with one in-place `step` over the parameters.

With weight decay λ, the coupled optimizers minimise L + λ/2 Σ_l ||W_l||² (gradient g + λW, on the
weights only, not the biases); adamw decouples it: W ← W − α λ W before the Adam step.
Conventions follow PyTorch (momentum buffers accumulate g, not α g).
Every update is in place: a product that needs a temporary goes into one scratch array shared by all
parameters, so a step allocates nothing.

`step` reads gradients that backward wrote. SGD and momentum also have a fused form, `fused_step`:
backward hands each layer's gradient over as its factors (network.Gradient) and the update happens
inside the gradient's GEMM through BLAS's β, so no gradient array is written or read back:
    sgd:       P ← β·P − α·[A 1]ᵀ·dZ,  β = 1 − αλ on W, 1 on b        (one GEMM per block row)
    momentum:  V ← μ·V + [A 1]ᵀ·dZ (GEMM), V_W += λ·W, P ← P − α·V (one axpy)
The rounding differs from `step` (the sums are taken in another order), not the rule.
"""

from __future__ import annotations

import math

import numpy as np

from bpcli.core.blas import axpy
from bpcli.core.network import Gradient, Layer, Parameter


class Optimizer:
    """Updates parameters in place from their gradients. `step` consumes (overwrites) the gradients."""

    name = ""
    rule = ""
    rule_latex = ""
    """The same rule in LaTeX, for `bpcli explain --markdown`."""
    slots: tuple[str, ...] = ()
    """Per-parameter state arrays (moments), saved in checkpoints."""
    decoupled_decay = False
    """True when weight decay shrinks θ directly instead of adding λW to the gradient (adamw)."""
    settings: dict[str, float] = {}
    """The optimizer's own hyper-parameters with their defaults (besides lr and weight_decay): the
    config accepts exactly these for this optimizer."""

    def __init__(self, weight_decay: float = 0.0, **settings: float):
        unknown = sorted(set(settings) - set(self.settings))
        if unknown:
            raise TypeError(f"{self.name} has no setting {unknown[0]!r}")
        self.weight_decay = weight_decay
        for key, default in self.settings.items():
            setattr(self, key, settings.get(key, default))
        self.steps = 0
        self.state = {}
        self._work: np.ndarray | None = None

    fuses = False
    """True when the optimizer has a fused form (`fused_step`)."""

    @property
    def state(self) -> dict[str, np.ndarray]:
        """The slot arrays by name, e.g. velocity.W1 (what checkpoints save); assigning loads them."""
        return self._state

    @state.setter
    def state(self, arrays: dict[str, np.ndarray]) -> None:
        self._state = dict(arrays)
        self._blocks: dict[str, np.ndarray] = {}

    def _scratch(self, p: Parameter) -> np.ndarray:
        """A work array shaped like `p`, reused for every parameter (updates run one at a time)."""
        size, dtype = p.value.size, p.value.dtype
        if self._work is None or self._work.size < size or self._work.dtype != dtype:
            self._work = np.empty(size, dtype)
        return self._work[:size].reshape(p.value.shape)

    def _slot(self, slot: str, p: Parameter) -> np.ndarray:
        key = f"{slot}.{p.name}"
        if key not in self.state:
            self.state[key] = np.zeros_like(p.value)
        return self.state[key]

    def _block(self, slot: str, layer: Layer) -> np.ndarray:
        """A layer's `slot` as one P-shaped array; the named slots of its W and b are views of it."""
        parts = (layer.weights, layer.bias)
        key = f"{slot}.{layer.weights.name}"
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = np.zeros_like(layer.P)
            for p, view in zip(parts, (block[:-1], block[-1]), strict=True):
                name = f"{slot}.{p.name}"
                if name in self.state:  # loaded from a checkpoint or made by `step`
                    view[...] = self.state[name]
                self.state[name] = view
        return block

    def fused_step(self, network, Y: np.ndarray, loss, lr: float) -> None:
        """Backpropagate and update in one go: each layer is updated inside backward, from its
        gradient's factors, as soon as the layers below no longer need its weights."""
        self.steps += 1

        def update(layer: Layer, gradient: Gradient) -> None:
            self._fused_update(layer, gradient, lr)

        network.backward(Y, loss, update)

    def _fused_update(self, layer: Layer, gradient: Gradient, lr: float) -> None:
        raise NotImplementedError(f"{self.name} has no fused form")

    def step(self, params: list[Parameter], lr: float) -> None:
        """One update of every parameter with learning rate `lr`."""
        self.steps += 1
        for p in params:
            if p.decay and self.weight_decay:
                self._decay(p, lr)
            self._update(p, p.grad, lr)

    def _decay(self, p: Parameter, lr: float) -> None:
        p.grad += np.multiply(p.value, self.weight_decay, out=self._scratch(p))

    def _update(self, p: Parameter, g: np.ndarray, lr: float) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    name = "sgd"
    rule = "θ ← θ − α g"
    rule_latex = r"\theta \leftarrow \theta - \alpha g"

    fuses = True

    def _update(self, p, g, lr):
        axpy(-lr, g, p.value)

    def _fused_update(self, layer, gradient, lr):
        # (g + λW) folded into the GEMM: W ← (1 − αλ)·W − α·dW, b ← b − α·db
        gradient.into(layer.P, -lr, 1.0 - lr * self.weight_decay, bias_beta=1.0)


class Momentum(Optimizer):
    name = "momentum"
    rule = "v ← μ v + g;  θ ← θ − α v"
    rule_latex = r"v \leftarrow \mu v + g;\ \theta \leftarrow \theta - \alpha v"
    slots = ("velocity",)
    settings = {"momentum": 0.9}

    fuses = True

    def _update(self, p, g, lr):
        v = self._slot("velocity", p)
        v *= self.momentum
        axpy(1.0, g, v)
        axpy(-lr, v, p.value)

    def _fused_update(self, layer, gradient, lr):
        V = gradient.into(self._block("velocity", layer), 1.0, self.momentum)
        if self.weight_decay:
            axpy(self.weight_decay, layer.W, V[:-1])
        axpy(-lr, V, layer.P)


class Nesterov(Optimizer):
    name = "nesterov"
    rule = "v ← μ v + g;  θ ← θ − α (g + μ v)"
    rule_latex = r"v \leftarrow \mu v + g;\ \theta \leftarrow \theta - \alpha (g + \mu v)"
    slots = ("velocity",)
    settings = {"momentum": 0.9}

    def _update(self, p, g, lr):
        v = self._slot("velocity", p)
        v *= self.momentum
        v += g
        g += np.multiply(v, self.momentum, out=self._scratch(p))
        g *= lr
        p.value -= g


class RMSProp(Optimizer):
    name = "rmsprop"
    rule = "s ← ρ s + (1 − ρ) g²;  θ ← θ − α g / (√s + ε)"
    rule_latex = r"s \leftarrow \rho s + (1 - \rho) g^2;\ \theta \leftarrow \theta - \frac{\alpha g}{\sqrt{s} + \varepsilon}"
    slots = ("square_avg",)
    settings = {"rho": 0.9, "eps": 1e-8}

    def _update(self, p, g, lr):
        s = self._slot("square_avg", p)
        s *= self.rho
        work = np.multiply(g, 1.0 - self.rho, out=self._scratch(p))
        work *= g
        s += work
        np.sqrt(s, out=work)
        work += self.eps
        g /= work
        g *= lr
        p.value -= g


class Adam(Optimizer):
    name = "adam"
    rule = (
        "m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²;"
        "  θ ← θ − α m̂ / (√v̂ + ε),  m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t)"
    )
    rule_latex = (
        r"m \leftarrow \beta_1 m + (1 - \beta_1) g;\ v \leftarrow \beta_2 v + (1 - \beta_2) g^2;\ "
        r"\theta \leftarrow \theta - \frac{\alpha \hat m}{\sqrt{\hat v} + \varepsilon},\ "
        r"\hat m = \frac{m}{1 - \beta_1^t},\ \hat v = \frac{v}{1 - \beta_2^t}"
    )
    slots = ("exp_avg", "exp_avg_sq")
    settings = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}

    def _update(self, p, g, lr):
        m, v = self._slot("exp_avg", p), self._slot("exp_avg_sq", p)
        m *= self.beta1
        m += np.multiply(g, 1.0 - self.beta1, out=self._scratch(p))
        v *= self.beta2
        np.multiply(g, g, out=g)
        g *= 1.0 - self.beta2
        v += g
        bias1 = 1.0 - self.beta1**self.steps
        bias2 = 1.0 - self.beta2**self.steps
        np.sqrt(v, out=g)
        g *= 1.0 / math.sqrt(bias2)
        g += self.eps
        np.divide(m, g, out=g)
        g *= lr / bias1
        p.value -= g


class AdamW(Adam):
    name = "adamw"
    decoupled_decay = True
    rule = "θ ← θ − α λ θ  (decoupled decay), then the Adam step"
    rule_latex = r"\theta \leftarrow \theta - \alpha \lambda \theta \text{ (decoupled decay), then the Adam step}"

    def _decay(self, p, lr):
        p.value -= np.multiply(p.value, lr * self.weight_decay, out=self._scratch(p))


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in [SGD, Momentum, Nesterov, RMSProp, Adam, AdamW]
}
