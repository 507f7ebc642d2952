"""Numerics users read: sigmoid in both tails, gelu in float32 and at huge |z|, R² as scikit-learn
defines it. References are computed here independently (decimal arithmetic, two-pass float64 sums)."""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
import pytest

from bpcli.core.activations import ACTIVATIONS
from bpcli.core.metrics import MetricAccumulator


def sigmoid_reference(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^(−z)) in 50-digit decimal arithmetic, rounded once to float64."""
    getcontext().prec = 50
    return np.array([float(1 / (1 + (-Decimal(float(v))).exp())) for v in z.ravel()])


@pytest.mark.parametrize(("dtype", "bound"), [(np.float32, 1e-6), (np.float64, 1e-14)])
def test_sigmoid_is_accurate_in_both_tails(dtype, bound):
    Z = np.linspace(-80.0, 80.0, 1601).astype(dtype)[None, :]
    A = ACTIVATIONS["sigmoid"].forward(Z, np.empty_like(Z))
    assert A.dtype == dtype
    reference = sigmoid_reference(Z)
    relative = np.abs(A[0].astype(np.float64) - reference) / reference
    assert relative.max() <= bound, (Z[0, relative.argmax()], relative.max())
    assert A.min() > 0  # σ(−80) ≈ 1.8e-35: a probability, not 0


def test_softplus_derivative_keeps_the_negative_tail():
    Z = np.array([[-30.0, -20.0]], np.float32)
    softplus = ACTIVATIONS["softplus"]
    dZ = softplus.backward(np.ones_like(Z), Z, softplus.forward(Z, np.empty_like(Z)), Z.copy())
    np.testing.assert_allclose(dZ[0], sigmoid_reference(Z), rtol=1e-6)


class DtypeRecorder(np.ndarray):
    """An array that records the dtype of every ufunc result computed from it."""

    seen: list = []

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        def plain(x):
            return x.view(np.ndarray) if isinstance(x, DtypeRecorder) else x

        if out is not None:
            kwargs["out"] = tuple(plain(x) for x in out)
        result = getattr(ufunc, method)(*map(plain, inputs), **kwargs)
        for item in result if isinstance(result, tuple) else (result,):
            if isinstance(item, np.ndarray):
                DtypeRecorder.seen.append(item.dtype)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return result.view(DtypeRecorder) if isinstance(result, np.ndarray) else result


def recorded(shape, values=None) -> DtypeRecorder:
    array = np.empty(shape, np.float32) if values is None else values.astype(np.float32)
    return array.view(DtypeRecorder)


@pytest.mark.parametrize("name", ["gelu", "sigmoid"])
def test_float32_activation_computes_in_float32(name):
    """A float64 constant would promote every temporary to float64 (slow, twice the memory)."""
    rng = np.random.default_rng(0)
    Z = recorded((4, 5), rng.normal(size=(4, 5)) * 5)
    activation = ACTIVATIONS[name]
    DtypeRecorder.seen = []
    A = activation.forward(Z, recorded((4, 5)))
    activation.backward(recorded((4, 5), np.ones((4, 5))), Z, A, recorded((4, 5)))
    floats = {dtype for dtype in DtypeRecorder.seen if dtype.kind == "f"}
    assert floats == {np.dtype(np.float32)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_backward_is_finite_for_huge_inputs(dtype):
    Z = np.array([[-1e30, -1e20, -12.0, 12.0, 1e20, 1e30]], dtype)
    gelu = ACTIVATIONS["gelu"]
    with np.errstate(all="raise"):
        A = gelu.forward(Z, np.empty_like(Z))
        dZ = gelu.backward(np.ones_like(Z), Z, A, np.empty_like(Z))
    np.testing.assert_array_equal(A, np.array([[0.0, 0.0, 0.0, 12.0, 1e20, 1e30]], dtype))
    np.testing.assert_array_equal(dZ, [[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]])


def test_gelu_matches_its_tanh_formula_in_float32():
    z = np.linspace(-6, 6, 49)
    t = np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3))
    expected = 0.5 * z * (1 + t)
    slope = 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * z * z)
    Z = z.astype(np.float32)[None, :]
    gelu = ACTIVATIONS["gelu"]
    A = gelu.forward(Z, np.empty_like(Z))
    dZ = gelu.backward(np.ones_like(Z), Z, A, np.empty_like(Z))
    np.testing.assert_allclose(A[0], expected, atol=2e-6)
    np.testing.assert_allclose(dZ[0], slope, atol=2e-6)


# ---------------------------------------------------------------------------- R²


def r2_of(Y, Yhat, chunk_rows: int) -> float:
    accumulator = MetricAccumulator("regression")
    for start in range(0, len(Y), chunk_rows):
        accumulator.update(Y[start : start + chunk_rows], Yhat[start : start + chunk_rows], 0.0)
    return accumulator.result()["r2"]


def test_r2_is_per_output_and_averaged_like_scikit_learn():
    # Two outputs with means 0 and 100; predicting each column's mean explains nothing: R² = 0.
    Y = np.array([[-1.0, 99.0], [1.0, 101.0], [-1.0, 99.0], [1.0, 101.0]])
    Yhat = np.array([[0.0, 100.0]] * 4)
    assert r2_of(Y, Yhat, chunk_rows=3) == pytest.approx(0.0, abs=1e-12)
    # Column 1 perfect (R² 1), column 2 off by ±1 around a spread of ±2: SSE 4, SST 16, R² 0.75.
    Y = np.array([[1.0, 2.0], [2.0, -2.0], [3.0, 2.0], [4.0, -2.0]])
    Yhat = Y + np.array([[0.0, 1.0], [0.0, -1.0], [0.0, -1.0], [0.0, 1.0]])
    assert r2_of(Y, Yhat, chunk_rows=1) == pytest.approx((1.0 + 0.75) / 2, abs=1e-12)


def test_r2_of_a_constant_column_follows_scikit_learn():
    Y = np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]])
    assert r2_of(Y, Y.copy(), chunk_rows=2) == 1.0  # perfect on both
    assert r2_of(Y, Y + [[0.5, 0.0]], chunk_rows=2) == pytest.approx(0.5)  # (0 + 1) / 2


def test_r2_is_stable_for_a_small_spread_around_a_large_mean():
    rng = np.random.default_rng(0)
    y = (1e4 + rng.standard_normal(4000)).astype(np.float32)[:, None]
    yhat = (y + 0.5 * rng.standard_normal(y.shape)).astype(np.float32)
    y64, yhat64 = y.astype(np.float64), yhat.astype(np.float64)
    expected = 1 - np.sum((yhat64 - y64) ** 2) / np.sum((y64 - y64.mean()) ** 2)  # two-pass
    assert 0.7 < expected < 0.8
    assert r2_of(y, yhat, chunk_rows=32) == pytest.approx(expected, abs=1e-9)
