"""Backprop against central differences in float64, for every activation x loss, and a check that can fail."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from bpcli.core.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from bpcli.core.gradcheck import check_gradients
from bpcli.core.losses import LOSSES
from bpcli.core.network import MLP


def batch(loss, rng, rows=6, features=4, outputs=3):
    X = rng.standard_normal((rows, features))
    if loss.task == "classification":
        return X, rng.integers(0, outputs, rows)
    if loss.task == "binary":
        return X, rng.integers(0, 2, (rows, outputs)).astype(float)
    return X, rng.standard_normal((rows, outputs))


def network(hidden_activation, output_activation, seed=1):
    rng = np.random.default_rng(seed)
    return MLP.build(
        [4, 5, 3, 3], hidden_activation, output_activation, "xavier_normal", rng, np.float64
    )


@pytest.mark.parametrize(
    "activation, loss_name", list(itertools.product(HIDDEN_ACTIVATIONS, sorted(LOSSES)))
)
def test_backprop_matches_central_differences(activation, loss_name):
    loss = LOSSES[loss_name]
    net = network(activation, loss.output_activation or "identity")
    X, Y = batch(loss, np.random.default_rng(2))
    results = check_gradients(net, X, Y, loss, weight_decay=0.01, eps=1e-6, tol=1e-6)
    assert [r.name for r in results] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for result in results:
        assert result.checked == np.prod(result.shape) and result.skipped == 0  # smooth here
        assert result.passed, (result.name, result.max_rel_error, result.worst_index)
        assert result.max_rel_error < 1e-6


@pytest.mark.parametrize("output_activation", ["sigmoid", "softmax", "tanh"])
def test_regression_losses_through_any_output_activation(output_activation):
    loss = LOSSES["mse"]
    net = network("tanh", output_activation)
    X, Y = batch(loss, np.random.default_rng(3))
    assert all(r.passed for r in check_gradients(net, X, Y, loss))


def test_a_wrong_derivative_fails_the_check():
    tanh = ACTIVATIONS["tanh"]

    def wrong_backward(dA, Z, A, out):  # forgets the square: 1 - A instead of 1 - A^2
        np.multiply(dA, 1.0 - A, out=out)
        return out

    net = network("tanh", "softmax")
    net.layers[1].activation = dataclasses.replace(tanh, backward=wrong_backward)
    X, Y = batch(LOSSES["cross_entropy"], np.random.default_rng(4))
    results = {r.name: r for r in check_gradients(net, X, Y, LOSSES["cross_entropy"])}
    assert results["W3"].passed and results["b3"].passed
    assert not results["W2"].passed and not results["W1"].passed
    assert results["W2"].max_rel_error > 1e-3


def test_an_objective_that_disagrees_with_backprop_fails_the_check(monkeypatch):
    from bpcli.core import gradcheck

    net = network("tanh", "identity")
    X, Y = batch(LOSSES["mse"], np.random.default_rng(5))
    assert all(r.passed for r in check_gradients(net, X, Y, LOSSES["mse"], weight_decay=0.1))
    # An extra term 0.05 * sum(W1) in the objective that backprop does not know about.
    original = gradcheck.Objective.__call__
    monkeypatch.setattr(
        gradcheck.Objective,
        "__call__",
        lambda self: original(self) + 0.05 * float(np.sum(self.network.layers[0].W)),
    )
    results = {r.name: r for r in check_gradients(net, X, Y, LOSSES["mse"], weight_decay=0.1)}
    assert not results["W1"].passed
    assert results["W2"].passed and results["b1"].passed


def test_steps_across_a_relu_kink_are_skipped_not_counted():
    net = network("relu", "identity")
    X, Y = batch(LOSSES["mse"], np.random.default_rng(6))
    net.forward(X)
    # Put one hidden pre-activation exactly at the kink by shifting its bias.
    net.layers[0].b[0] -= net.last_pass.Z[0][0, 0]
    results = {r.name: r for r in check_gradients(net, X, Y, LOSSES["mse"])}
    assert results["b1"].skipped >= 1
    assert results["b1"].checked + results["b1"].skipped == 5
    assert all(r.passed for r in results.values())


def test_sampling_checks_at_most_max_params_per_tensor():
    net = network("tanh", "softmax")
    X, Y = batch(LOSSES["cross_entropy"], np.random.default_rng(7))
    results = check_gradients(net, X, Y, LOSSES["cross_entropy"], max_params=4)
    assert [r.checked for r in results] == [4, 4, 4, 3, 4, 3]
