r"""Losses: name -> Loss with one interface, a batch mean `value` and the output delta dZ_L = dL/dZ_L.

Shapes: Z and Ŷ = g(Z) are (n, k). Y is (n, k) floats, except for cross_entropy where it holds the
n integer class indices (a one-hot matrix would only cost memory). Softmax + cross-entropy and
sigmoid + binary cross-entropy are fused: their value is computed from the logits Z with log-sum-exp
(cross-entropy reads it off the softmax output while that has not underflowed) and their delta is (Ŷ − Y)/n, so extreme logits never give NaN or inf.
"""

from __future__ import annotations

import numpy as np

from bpcli.core.activations import Activation

Array = np.ndarray


class Loss:
    """A loss L(Y, Ŷ) averaged over the batch, and its gradient written back to the output logits."""

    name: str = ""
    formula: str = ""
    gradient: str = ""
    formula_latex: str = ""
    gradient_latex: str = ""
    """The same two formulas in LaTeX, for `bpcli explain --markdown`."""
    task = "regression"
    output_activation: str | None = None
    """The output activation this loss requires (fused losses), or None for any."""
    kinks: tuple[float, ...] = ()
    """Residuals Ŷ − Y where the loss is not differentiable."""

    def value(self, Y: Array, Z: Array, Yhat: Array) -> float:
        """L, the batch mean."""
        raise NotImplementedError

    def grad(self, Y: Array, Z: Array, Yhat: Array) -> Array:
        """dL/dŶ, shape (n, k)."""
        raise NotImplementedError

    def output_delta(self, Y: Array, Z: Array, Yhat: Array, activation: Activation, out: Array):
        """dZ_L = dL/dZ_L, written into `out` (n, k): dL/dŶ through g'(Z_L) unless fused."""
        return activation.backward(self.grad(Y, Z, Yhat), Z, Yhat, out)


class MeanSquaredError(Loss):
    name = "mse"
    formula = "L = 1/(n k) Σ (ŷ − y)²   (mean over all elements, as torch.nn.MSELoss)"
    gradient = "dL/dŷ = 2 (ŷ − y) / (n k)"
    formula_latex = r"L = \frac{1}{nk} \sum_{i=1}^{n} \sum_{j=1}^{k} (\hat y_{ij} - y_{ij})^2"
    gradient_latex = r"\frac{\partial L}{\partial \hat Y} = \frac{2}{nk} (\hat Y - Y)"

    def value(self, Y, Z, Yhat):
        residual = Yhat - Y
        return float(np.mean(residual * residual))

    def grad(self, Y, Z, Yhat):
        return (2.0 / Yhat.size) * (Yhat - Y)


class MeanAbsoluteError(Loss):
    name = "mae"
    formula = "L = 1/(n k) Σ |ŷ − y|"
    gradient = "dL/dŷ = sign(ŷ − y) / (n k)"
    formula_latex = (
        r"L = \frac{1}{nk} \sum_{i=1}^{n} \sum_{j=1}^{k} \lvert \hat y_{ij} - y_{ij} \rvert"
    )
    gradient_latex = (
        r"\frac{\partial L}{\partial \hat Y} = \frac{1}{nk} \operatorname{sign}(\hat Y - Y)"
    )
    kinks = (0.0,)

    def value(self, Y, Z, Yhat):
        return float(np.mean(np.abs(Yhat - Y)))

    def grad(self, Y, Z, Yhat):
        return np.sign(Yhat - Y) / Yhat.size


class Huber(Loss):
    name = "huber"
    delta = 1.0
    formula = "L = 1/(n k) Σ h(ŷ − y),  h(r) = r²/2 if |r| <= 1 else |r| − 1/2"
    gradient = "dL/dŷ = clip(ŷ − y, −1, 1) / (n k)"
    formula_latex = (
        r"L = \frac{1}{nk} \sum_{i=1}^{n} \sum_{j=1}^{k} h(\hat y_{ij} - y_{ij}),\ "
        r"h(r) = \tfrac{1}{2} r^2 \text{ if } \lvert r \rvert \le 1 \text{ else } \lvert r \rvert - \tfrac{1}{2}"
    )
    gradient_latex = (
        r"\frac{\partial L}{\partial \hat Y} = \frac{1}{nk} \operatorname{clip}(\hat Y - Y, -1, 1)"
    )

    def value(self, Y, Z, Yhat):
        abs_residual = np.abs(Yhat - Y)
        quadratic = np.minimum(abs_residual, self.delta)
        linear = abs_residual - quadratic
        return float(np.mean(0.5 * quadratic * quadratic + self.delta * linear))

    def grad(self, Y, Z, Yhat):
        return np.clip(Yhat - Y, -self.delta, self.delta) / Yhat.size


class BinaryCrossEntropy(Loss):
    name = "binary_cross_entropy"
    task = "binary"
    output_activation = "sigmoid"
    formula = (
        "L = −1/(n k) Σ [y log ŷ + (1 − y) log(1 − ŷ)],  ŷ = σ(z);"
        " computed as max(z, 0) − z y + log(1 + e^(−|z|))"
    )
    gradient = "dL/dz = (ŷ − y) / (n k)   (sigmoid and BCE fused)"
    formula_latex = (
        r"L = -\frac{1}{nk} \sum_{i=1}^{n} \sum_{j=1}^{k} \left[y_{ij} \log \hat y_{ij}"
        r" + (1 - y_{ij}) \log(1 - \hat y_{ij})\right],\ \hat y = \sigma(z)"
    )
    gradient_latex = r"\frac{\partial L}{\partial Z} = \frac{1}{nk} (\hat Y - Y)"

    def value(self, Y, Z, Yhat):
        per_element = np.maximum(Z, 0.0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))
        return float(np.mean(per_element))

    def grad(self, Y, Z, Yhat):
        """dL/dŷ = (ŷ − y) / (ŷ (1 − ŷ) n k): infinite where ŷ saturates, hence the fused delta."""
        return (Yhat - Y) / (Yhat * (1.0 - Yhat) * Yhat.size)

    def output_delta(self, Y, Z, Yhat, activation, out):
        np.subtract(Yhat, Y, out=out)
        out *= 1.0 / Yhat.size
        return out


class CrossEntropy(Loss):
    name = "cross_entropy"
    task = "classification"
    output_activation = "softmax"
    formula = (
        "L = −1/n Σ_i log ŷ_{i, y_i},  ŷ = softmax(z);"
        " computed as 1/n Σ_i [logsumexp(z_i) − z_{i, y_i}]"
    )
    gradient = "dL/dz = (ŷ − onehot(y)) / n   (softmax and cross-entropy fused)"
    formula_latex = r"L = -\frac{1}{n} \sum_{i=1}^{n} \log \hat y_{i, y_i},\ \hat y_i = \operatorname{softmax}(z_i)"
    gradient_latex = (
        r"\frac{\partial L}{\partial Z} = \frac{1}{n} (\hat Y - \operatorname{onehot}(Y))"
    )

    def __init__(self):
        self._rows = np.arange(0)

    def row_index(self, n: int) -> Array:
        """0, 1, …, n−1 for picking ŷ_{i, y_i}; kept and grown, not rebuilt for every batch."""
        if len(self._rows) < n:
            self._rows = np.arange(n)
        return self._rows[:n]

    def value(self, Y, Z, Yhat):
        picked = Yhat[self.row_index(len(Y)), Y]
        if picked.min() >= np.finfo(Yhat.dtype).tiny:
            # −log ŷ_{i,y_i} equals logsumexp(z_i) − z_{i,y_i} to rounding while the softmax
            # output has not underflowed; reading it off Ŷ skips a second pass of exp over Z.
            # (a sum over n rather than .mean(): numpy's mean costs ~10 µs of Python per batch)
            return -float(np.add.reduce(np.log(picked, out=picked))) / len(picked)
        rows = self.row_index(len(Y))
        z_max = Z.max(axis=1)
        log_sum_exp = z_max + np.log(np.exp(Z - z_max[:, None]).sum(axis=1))
        return float(np.mean(log_sum_exp - Z[rows, Y]))

    def grad(self, Y, Z, Yhat):
        """dL/dŷ_ij = −[j = y_i] / (n ŷ_ij): infinite where ŷ underflows, hence the fused delta."""
        rows = self.row_index(len(Y))
        dYhat = np.zeros_like(Yhat)
        dYhat[rows, Y] = -1.0 / (len(Y) * Yhat[rows, Y])
        return dYhat

    def output_delta(self, Y, Z, Yhat, activation, out):
        np.copyto(out, Yhat)
        out[self.row_index(len(Y)), Y] -= 1.0
        out *= 1.0 / Y.shape[0]
        return out


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in [
        CrossEntropy(),
        BinaryCrossEntropy(),
        MeanSquaredError(),
        MeanAbsoluteError(),
        Huber(),
    ]
}
