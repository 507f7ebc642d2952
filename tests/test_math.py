"""Pinned values of activations and losses, and their stability at extreme inputs."""

from __future__ import annotations

import numpy as np
import pytest

from bpcli.core.activations import ACTIVATIONS
from bpcli.core.losses import LOSSES


def apply(name, Z):
    return ACTIVATIONS[name].forward(np.asarray(Z, float), np.empty(np.shape(Z)))


@pytest.mark.parametrize(
    "name, z, expected",
    [
        ("identity", [-2.0, 3.0], [-2.0, 3.0]),
        ("sigmoid", [0.0, 2.0], [0.5, 1 / (1 + np.exp(-2.0))]),
        ("tanh", [0.5], [np.tanh(0.5)]),
        ("relu", [-1.0, 0.0, 2.5], [0.0, 0.0, 2.5]),
        ("leaky_relu", [-1.0, 2.0], [-0.01, 2.0]),
        ("elu", [-1.0, 2.0], [np.exp(-1.0) - 1, 2.0]),
        ("softplus", [0.0, 1.0], [np.log(2.0), np.log1p(np.e)]),
        ("gelu", [1.0], [0.8411919906082768]),
    ],
)
def test_activation_values(name, z, expected):
    np.testing.assert_allclose(apply(name, [z])[0], expected, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_are_finite_at_extreme_inputs(name):
    Z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]])
    assert np.all(np.isfinite(apply(name, Z)))
    dZ = ACTIVATIONS[name].backward(np.ones_like(Z), Z, apply(name, Z), np.empty_like(Z))
    assert np.all(np.isfinite(dZ))


def test_sigmoid_saturates_to_exact_limits_without_overflow():
    with np.errstate(over="raise", invalid="raise"):
        np.testing.assert_array_equal(apply("sigmoid", [[-1000.0, 1000.0]]), [[0.0, 1.0]])


def test_softmax_rows_sum_to_one_even_for_huge_logits():
    A = apply("softmax", [[1000.0, 0.0, -1000.0], [3.0, 3.0, 3.0]])
    np.testing.assert_allclose(A.sum(axis=1), 1.0)
    np.testing.assert_allclose(A[1], 1 / 3)


def value(loss_name, Y, Z):
    loss = LOSSES[loss_name]
    Z = np.asarray(Z, float)
    Yhat = apply(loss.output_activation or "identity", Z)
    return loss.value(np.asarray(Y), Z, Yhat)


def test_mse_is_the_mean_over_all_elements_like_torch():
    # ((1-0)^2 + (2-4)^2 + (0-0)^2 + (3-1)^2) / 4 = 9/4
    assert value("mse", [[0.0, 4.0], [0.0, 1.0]], [[1.0, 2.0], [0.0, 3.0]]) == pytest.approx(2.25)


def test_mae_and_huber_pinned():
    Y, Z = [[0.0, 0.0]], [[0.5, 3.0]]
    assert value("mae", Y, Z) == pytest.approx(1.75)
    assert value("huber", Y, Z) == pytest.approx((0.125 + 2.5) / 2)


def test_cross_entropy_pinned_and_mean_over_samples():
    Z = [[0.0, 0.0], [np.log(3.0), 0.0]]
    expected = (np.log(2.0) + np.log(4.0 / 3.0)) / 2
    assert value("cross_entropy", np.array([0, 0]), Z) == pytest.approx(expected)


def test_binary_cross_entropy_pinned():
    # -log(sigmoid(2)) and -log(1 - sigmoid(-1)) averaged
    expected = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-1.0))) / 2
    assert value("binary_cross_entropy", [[1.0], [0.0]], [[2.0], [-1.0]]) == pytest.approx(expected)


@pytest.mark.parametrize("loss_name", ["cross_entropy", "binary_cross_entropy"])
def test_fused_losses_stay_finite_for_extreme_logits(loss_name):
    loss = LOSSES[loss_name]
    Z = np.array([[1e4, -1e4], [-1e4, 1e4]])
    Y = np.array([1, 0]) if loss_name == "cross_entropy" else np.array([[0.0, 1.0], [1.0, 0.0]])
    Yhat = apply(loss.output_activation, Z)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        total = loss.value(Y, Z, Yhat)
        delta = loss.output_delta(Y, Z, Yhat, ACTIVATIONS[loss.output_activation], np.empty_like(Z))
    # Every prediction is confidently wrong by a logit margin of 2e4 (CE) or 1e4 per element (BCE).
    assert total == pytest.approx(2e4 if loss_name == "cross_entropy" else 1e4)
    assert np.all(np.isfinite(delta))


def test_fused_deltas_are_prediction_minus_target_over_n():
    loss = LOSSES["cross_entropy"]
    Z = np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]])
    Yhat = apply("softmax", Z)
    delta = loss.output_delta(np.array([1, 2]), Z, Yhat, ACTIVATIONS["softmax"], np.empty_like(Z))
    np.testing.assert_allclose(delta, (Yhat - np.eye(3)[[1, 2]]) / 2)
