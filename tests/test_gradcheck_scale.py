"""The gradient check judges each tensor against its own scale and checks the optimizer's weight decay
as training applies it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import bpcli
from bpcli.core.gradcheck import check_gradients
from bpcli.core.losses import LOSSES
from bpcli.core.network import MLP
from bpcli.core.optimizers import Optimizer

ROOT = Path(__file__).resolve().parent.parent


def deep_sigmoid_net():
    """10 sigmoid layers: the first layer's gradients are ~1e-8, the last ones' ~1e-1."""
    rng = np.random.default_rng(0)
    net = MLP.build([4] + [8] * 10 + [1], "sigmoid", "identity", "xavier_normal", rng, np.float64)
    X = rng.normal(size=(8, 4))
    Y = rng.normal(size=(8, 1))
    return net, X, Y


def plant_error(monkeypatch, tensor: str, factor: float):
    """Backprop's gradient of `tensor` (e.g. 'W1', 'b3') multiplied by `factor`."""
    original = MLP.backward
    kind, layer = tensor[0], int(tensor[1:]) - 1

    def backward(self, Y, loss):
        original(self, Y, loss)
        gradient = self.layers[layer].dW if kind == "W" else self.layers[layer].db
        gradient *= factor

    monkeypatch.setattr(MLP, "backward", backward)


def test_rounding_noise_passes_on_a_deep_sigmoid_net():
    net, X, Y = deep_sigmoid_net()
    checks = {c.name: c for c in check_gradients(net, X, Y, LOSSES["mse"])}
    assert all(c.passed for c in checks.values()), {n: c.max_rel_error for n, c in checks.items()}
    assert checks["W1"].scale < 1e-6 < 1e-2 < checks["W11"].scale  # the gradients span decades


@pytest.mark.parametrize("tensor", ["W1", "b1", "W5", "b6", "W11", "b11"])
def test_a_one_percent_error_fails_in_any_tensor(monkeypatch, tensor):
    net, X, Y = deep_sigmoid_net()
    plant_error(monkeypatch, tensor, 1.01)
    checks = check_gradients(net, X, Y, LOSSES["mse"])
    failed = [c.name for c in checks if not c.passed]
    assert failed == [tensor]
    (wrong,) = [c for c in checks if c.name == tensor]
    assert wrong.max_rel_error == pytest.approx(0.01 / 1.01, rel=0.05)


def test_a_wrong_gradient_of_a_trained_network_shows_its_size(tmp_path, monkeypatch):
    run = bpcli.train(ROOT / "configs" / "xor.yaml", out=tmp_path / "xor")
    rows = run.data("train")
    plant_error(monkeypatch, "W1", 2.0)  # a 100 % error
    checks = {
        c.name: c for c in check_gradients(run.network, rows.X, rows.Y, LOSSES[run.config.loss])
    }
    assert not checks["W1"].passed and checks["W1"].max_rel_error > 0.4
    assert checks["W2"].passed


def decaying_config(optimizer: str) -> dict:
    return {
        "data": {"source": "moons", "n_samples": 40},
        "model": {"hidden": [4], "activation": "tanh"},
        "optimizer": {"name": optimizer, "weight_decay": 0.5},
    }


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_wrong_weight_decay_in_the_optimizer_fails(monkeypatch, tmp_path, optimizer):
    config = tmp_path / "decay.yaml"
    config.write_text(yaml.safe_dump(decaying_config(optimizer)), encoding="utf-8")
    assert bpcli.gradcheck(config).passed
    original = Optimizer.step

    def half_decay(self, params, lr):  # the planted bug: λ/2 instead of λ
        self.weight_decay /= 2
        try:
            original(self, params, lr)
        finally:
            self.weight_decay *= 2

    monkeypatch.setattr(Optimizer, "step", half_decay)
    result = bpcli.gradcheck(config)
    status = {c.name: c.passed for c in result.checks}
    assert status == {"W1": False, "b1": True, "W2": False, "b2": True}
