"""Optimizers: hand-worked steps, and each one lowers the loss of a convex problem; schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bpcli.core.losses import LOSSES
from bpcli.core.network import MLP, Parameter
from bpcli.core.optimizers import OPTIMIZERS
from bpcli.core.schedules import SCHEDULES
from bpcli.core.schedules import settings as schedule_settings


def parameter(value, grad, decay=True):
    return Parameter("W1", np.array(value, float), np.array(grad, float), decay)


def test_sgd_step_by_hand():
    p = parameter([1.0, -2.0], [0.5, 1.0])
    OPTIMIZERS["sgd"]().step([p], lr=0.1)
    np.testing.assert_allclose(p.value, [0.95, -2.1])


def test_sgd_weight_decay_adds_lambda_w_to_the_gradient():
    p = parameter([1.0], [0.0])
    OPTIMIZERS["sgd"](weight_decay=0.5).step([p], lr=0.1)
    np.testing.assert_allclose(p.value, [1.0 - 0.1 * 0.5])


def test_weight_decay_skips_biases():
    p = parameter([1.0], [0.0], decay=False)
    OPTIMIZERS["sgd"](weight_decay=0.5).step([p], lr=0.1)
    np.testing.assert_allclose(p.value, [1.0])


def test_momentum_two_steps_by_hand():
    optimizer = OPTIMIZERS["momentum"](momentum=0.9)
    p = parameter([0.0], [1.0])
    optimizer.step([p], lr=0.1)  # v = 1, theta = -0.1
    p.grad[...] = 1.0
    optimizer.step([p], lr=0.1)  # v = 1.9, theta = -0.29
    np.testing.assert_allclose(p.value, [-0.29])


def test_nesterov_step_by_hand():
    optimizer = OPTIMIZERS["nesterov"](momentum=0.9)
    p = parameter([0.0], [1.0])
    optimizer.step([p], lr=0.1)  # v = 1, theta = -0.1 * (1 + 0.9)
    np.testing.assert_allclose(p.value, [-0.19])


def test_rmsprop_first_step_by_hand():
    p = parameter([0.0], [2.0])
    OPTIMIZERS["rmsprop"](rho=0.9, eps=0.0).step([p], lr=0.1)  # s = 0.4, step = 0.1 * 2/sqrt(0.4)
    np.testing.assert_allclose(p.value, [-0.1 * 2 / math.sqrt(0.4)])


def test_adam_first_step_is_lr_times_sign():
    p = parameter([1.0, 1.0], [3.0, -0.2])
    OPTIMIZERS["adam"](eps=0.0).step([p], lr=0.01)
    np.testing.assert_allclose(p.value, [0.99, 1.01])


def test_adamw_decays_weights_before_the_adam_step():
    p = parameter([2.0], [0.0])
    OPTIMIZERS["adamw"](weight_decay=0.1).step([p], lr=0.5)
    np.testing.assert_allclose(p.value, [2.0 - 0.5 * 0.1 * 2.0])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_optimizer_lowers_the_loss_of_linear_least_squares(name):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    Y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    net = MLP.build([3, 1], "identity", "identity", "normal", rng, np.float64, init_std=0.1)
    loss = LOSSES["mse"]
    optimizer = OPTIMIZERS[name]()

    def current_loss():
        net.forward(X)
        return net.loss(Y, loss)

    start = current_loss()
    for _ in range(100):
        net.forward(X)
        net.backward(Y, loss)
        optimizer.step(net.parameters(), lr=0.01)
    assert current_loss() < 0.5 * start


def test_schedules():
    assert SCHEDULES["constant"](0.1, 7, 10) == 0.1
    assert SCHEDULES["step"](0.1, 7, 10, step_size=3, gamma=0.5) == pytest.approx(0.1 * 0.25)
    assert SCHEDULES["exponential"](0.1, 2, 10, gamma=0.5) == pytest.approx(0.025)
    assert SCHEDULES["cosine"](0.1, 0, 10, min_lr=0.0) == pytest.approx(0.1)
    assert SCHEDULES["cosine"](0.1, 5, 10, min_lr=0.0) == pytest.approx(0.05)


def test_each_schedule_declares_only_the_settings_it_uses():
    assert schedule_settings("constant") == {}
    assert schedule_settings("step") == {"step_size": 10, "gamma": 0.5}
    assert schedule_settings("exponential") == {"gamma": 0.5}
    assert schedule_settings("cosine") == {"min_lr": 0.0}


def test_an_optimizer_refuses_a_setting_it_does_not_have():
    assert OPTIMIZERS["adam"](beta1=0.5).beta1 == 0.5
    with pytest.raises(TypeError, match="sgd has no setting 'momentum'"):
        OPTIMIZERS["sgd"](momentum=0.5)


def test_every_optimizer_documents_its_rule():
    assert all(cls.rule for cls in OPTIMIZERS.values())
