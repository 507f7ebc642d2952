r"""Activation functions: name -> forward rule A = f(Z) and backward rule dZ = dA ⊙ f'(Z), side by side.

Every function works on a batch: Z, A, dA and dZ have shape (n, width). `forward` writes into `out`
and returns it; `backward` writes dZ into `out` (which may be `dA` itself) and returns it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray

LEAKY_SLOPE = 0.01
# Python floats, not numpy scalars: a np.float64 constant would promote float32 arrays to float64.
GELU_C = math.sqrt(2.0 / math.pi)
GELU_K = 0.044715
GELU_FLAT = 10.0
"""|z| beyond which tanh(√(2/π)(z + 0.044715 z³)) is ±1 exactly in float32 and float64: gelu's
polynomial is evaluated on z clipped to ±10, so z³ and z² never overflow (no inf · 0 = NaN)."""


@dataclass(frozen=True)
class Activation:
    """One activation: its forward rule, its backward rule and their formulas (for docs and explain)."""

    name: str
    forward: Callable[[Array, Array], Array]
    backward: Callable[[Array, Array, Array, Array], Array]
    formula: str
    derivative: str
    kinks: tuple[float, ...] = ()
    """Points z where f is not differentiable (a gradient check skips steps that cross them)."""
    formula_latex: str = ""
    derivative_latex: str = ""
    """The same two formulas in LaTeX, for `bpcli explain --markdown`."""


def _identity(Z, out):
    np.copyto(out, Z)
    return out


def _identity_backward(dA, Z, A, out):
    np.copyto(out, dA)
    return out


def _sigmoid(Z, out):
    r"""σ(z) = 1 / (1 + e^(−z)) for z ≥ 0 and e^z / (1 + e^z) for z < 0: both read e^(−|z|) ≤ 1, so
    nothing overflows and neither tail cancels (relative error of a few ulps for every z)."""
    np.abs(Z, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)  # e = e^(−|z|)
    denominator = out + 1.0
    np.copyto(out, 1.0, where=Z >= 0.0)
    out /= denominator
    return out


def _sigmoid_backward(dA, Z, A, out):
    np.multiply(dA, A * (1.0 - A), out=out)
    return out


def _tanh(Z, out):
    return np.tanh(Z, out=out)


def _tanh_backward(dA, Z, A, out):
    np.multiply(dA, 1.0 - A * A, out=out)
    return out


@functools.lru_cache(maxsize=32)
def _zero_row(width: int, dtype) -> Array:
    zeros = np.zeros(width, dtype)
    zeros.flags.writeable = False
    return zeros


def _relu(Z, out):
    # Against a row of zeros rather than the scalar 0: numpy's maximum then takes its
    # vectorised array-array loop, 2-3x faster than the array-scalar one.
    return np.maximum(Z, _zero_row(Z.shape[-1], Z.dtype), out=out)


def _relu_backward(dA, Z, A, out):
    np.multiply(dA, Z > 0.0, out=out)
    return out


def _leaky_relu(Z, out):
    np.multiply(Z, LEAKY_SLOPE, out=out)
    np.maximum(Z, out, out=out)
    return out


def _leaky_relu_backward(dA, Z, A, out):
    np.multiply(dA, np.where(Z > 0.0, 1.0, LEAKY_SLOPE).astype(dA.dtype, copy=False), out=out)
    return out


def _elu(Z, out):
    np.minimum(Z, 0.0, out=out)
    np.expm1(out, out=out)
    np.copyto(out, Z, where=Z > 0.0)
    return out


def _elu_backward(dA, Z, A, out):
    np.multiply(dA, np.where(Z > 0.0, 1.0, A + 1.0), out=out)
    return out


def _softplus(Z, out):
    return np.logaddexp(0.0, Z, out=out)


def _softplus_backward(dA, Z, A, out):
    sigma = _sigmoid(Z, np.empty_like(Z))
    np.multiply(dA, sigma, out=out)
    return out


def _gelu_tanh(Z: Array) -> tuple[Array, Array, Array]:
    """z clipped to ±GELU_FLAT, its square, and t = tanh(√(2/π) (z + 0.044715 z³)), in Z's dtype."""
    clipped = np.clip(Z, -GELU_FLAT, GELU_FLAT)
    square = clipped * clipped
    t = square * GELU_K
    t += 1.0
    t *= clipped
    t *= GELU_C
    np.tanh(t, out=t)
    return clipped, square, t


def _gelu(Z, out):
    _, _, t = _gelu_tanh(Z)
    np.add(t, 1.0, out=out)
    out *= 0.5
    out *= Z
    return out


def _gelu_backward(dA, Z, A, out):
    # f'(z) = (1 + t)/2 + z/2 (1 − t²) √(2/π) (1 + 3·0.044715 z²); beyond ±GELU_FLAT, 1 − t² = 0.
    clipped, square, t = _gelu_tanh(Z)
    square *= 3.0 * GELU_K
    square += 1.0
    square *= GELU_C
    square *= clipped
    square *= 0.5
    slope = np.multiply(t, t, out=clipped)
    np.subtract(1.0, slope, out=slope)
    slope *= square
    t += 1.0
    t *= 0.5
    slope += t
    np.multiply(dA, slope, out=out)
    return out


def _softmax(Z, out):
    np.subtract(Z, Z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def _softmax_backward(dA, Z, A, out):
    # The Jacobian-vector product of softmax: dZ_i = A_i (dA_i - sum_j dA_j A_j).
    row_dot = np.einsum("ij,ij->i", dA, A)[:, None]
    np.subtract(dA, row_dot, out=out)
    out *= A
    return out


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation(
            "identity",
            _identity,
            _identity_backward,
            "f(z) = z",
            "f'(z) = 1",
            formula_latex="f(z) = z",
            derivative_latex="f'(z) = 1",
        ),
        Activation(
            "sigmoid",
            _sigmoid,
            _sigmoid_backward,
            "f(z) = 1 / (1 + e^(-z))",
            "f'(z) = f(z) (1 - f(z))",
            formula_latex=r"f(z) = \frac{1}{1 + e^{-z}}",
            derivative_latex=r"f'(z) = f(z)\,(1 - f(z))",
        ),
        Activation(
            "tanh",
            _tanh,
            _tanh_backward,
            "f(z) = tanh(z)",
            "f'(z) = 1 - f(z)^2",
            formula_latex=r"f(z) = \tanh z = \frac{e^{z} - e^{-z}}{e^{z} + e^{-z}}",
            derivative_latex=r"f'(z) = 1 - f(z)^2",
        ),
        Activation(
            "relu",
            _relu,
            _relu_backward,
            "f(z) = max(z, 0)",
            "f'(z) = 1 if z > 0 else 0",
            kinks=(0.0,),
            formula_latex=r"f(z) = \max(z, 0)",
            derivative_latex=r"f'(z) = 1 \text{ if } z > 0 \text{ else } 0",
        ),
        Activation(
            "leaky_relu",
            _leaky_relu,
            _leaky_relu_backward,
            f"f(z) = z if z > 0 else {LEAKY_SLOPE} z",
            f"f'(z) = 1 if z > 0 else {LEAKY_SLOPE}",
            kinks=(0.0,),
            formula_latex=rf"f(z) = z \text{{ if }} z > 0 \text{{ else }} {LEAKY_SLOPE}\,z",
            derivative_latex=rf"f'(z) = 1 \text{{ if }} z > 0 \text{{ else }} {LEAKY_SLOPE}",
        ),
        Activation(
            "elu",
            _elu,
            _elu_backward,
            "f(z) = z if z > 0 else e^z - 1",
            "f'(z) = 1 if z > 0 else f(z) + 1",
            formula_latex=r"f(z) = z \text{ if } z > 0 \text{ else } e^{z} - 1",
            derivative_latex=r"f'(z) = 1 \text{ if } z > 0 \text{ else } f(z) + 1",
        ),
        Activation(
            "softplus",
            _softplus,
            _softplus_backward,
            "f(z) = log(1 + e^z)",
            "f'(z) = 1 / (1 + e^(-z))",
            formula_latex=r"f(z) = \log(1 + e^{z})",
            derivative_latex=r"f'(z) = \frac{1}{1 + e^{-z}}",
        ),
        Activation(
            "gelu",
            _gelu,
            _gelu_backward,
            "f(z) = z/2 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))  (tanh approximation)",
            "f'(z) = (1 + t)/2 + z/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 z^2),"
            " t = tanh(sqrt(2/pi) (z + 0.044715 z^3))",
            formula_latex=r"f(z) = \frac{z}{2}\left(1 + \tanh\left(\sqrt{2/\pi}\,(z + 0.044715\,z^3)\right)\right)",
            derivative_latex=r"f'(z) = \frac{1 + t}{2} + \frac{z}{2}(1 - t^2)\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\,z^2),\ "
            r"t = \tanh\left(\sqrt{2/\pi}\,(z + 0.044715\,z^3)\right)",
        ),
        Activation(
            "softmax",
            _softmax,
            _softmax_backward,
            "f(z)_i = e^(z_i - max z) / sum_j e^(z_j - max z)  (per row)",
            "dZ_i = A_i (dA_i - sum_j dA_j A_j)",
            formula_latex=r"f(z)_i = \frac{e^{z_i - \max z}}{\sum_j e^{z_j - \max z}}",
            derivative_latex=r"dZ_i = A_i \left(dA_i - \textstyle\sum_j dA_j A_j\right)",
        ),
    ]
}

OUTPUT_ONLY = frozenset({"softmax"})
HIDDEN_ACTIVATIONS = sorted(set(ACTIVATIONS) - OUTPUT_ONLY)
