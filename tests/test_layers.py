"""Per-layer hidden layers (model.layers) and inverted dropout: config, forward/backward, gradcheck,
reproducibility, evaluation without dropout, and what `bpcli explain` shows."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import flat, runner

from bpcli import api
from bpcli.commands import app
from bpcli.config import config_from_dict
from bpcli.core.gradcheck import check_gradients
from bpcli.core.losses import LOSSES
from bpcli.core.network import MLP
from bpcli.training.experiment import setup
from bpcli.training.loop import fit

LAYERS = [
    {"width": 16, "activation": "tanh", "dropout": 0.25},
    {"width": 8, "activation": "relu"},
]


def test_layers_give_each_hidden_layer_its_width_activation_and_dropout(small_config):
    config = config_from_dict(small_config(model={"hidden": None, "layers": LAYERS}))
    network = setup(config).network
    assert network.widths == [2, 16, 8, 2]
    assert [layer.activation.name for layer in network.layers] == ["tanh", "relu", "softmax"]
    assert [layer.dropout for layer in network.layers] == [0.25, 0.0, 0.0]


def test_the_shorthand_makes_every_hidden_layer_alike(small_config):
    model = {"hidden": [6, 5], "activation": "elu", "dropout": 0.1}
    network = setup(config_from_dict(small_config(model=model))).network
    assert [layer.activation.name for layer in network.layers] == ["elu", "elu", "softmax"]
    assert [layer.dropout for layer in network.layers] == [0.1, 0.1, 0.0]


@pytest.mark.parametrize("shorthand", ["hidden: [8]", "activation: tanh", "dropout: 0.1"])
def test_layers_and_the_shorthand_together_are_refused(write_config, shorthand):
    path = write_config(
        f"data: {{source: moons}}\nmodel:\n  {shorthand}\n  layers:\n    - {{width: 4}}\n"
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert "model.layers" in message and "line 4" in message
    assert f"model.{shorthand.split(':')[0]}" in message and "not both" in message
    assert "Traceback" not in result.output


def test_a_bad_layer_names_its_index_and_key(write_config):
    path = write_config(
        "data: {source: moons}\nmodel:\n  layers:\n    - {width: 4, activation: rleu}\n"
        "    - {width: 0, dropout: 1.0}\n"
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert "model.layers.0.activation" in message and "did you mean 'relu'" in message
    assert "model.layers.1.width" in message and "model.layers.1.dropout" in message


def dropout_network(p=0.4, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    return MLP.build([3, 400, 2], "tanh", "softmax", "xavier_normal", rng, dtype, dropout=p)


def test_dropout_is_inverted_dropout_as_torch_defines_it():
    # torch.nn.Dropout(p) in training: each unit is zeroed with probability p, the others are
    # scaled by 1/(1 − p), so the expectation is unchanged; in eval() it is the identity.
    p = 0.4
    network = dropout_network(p)
    X = np.random.default_rng(2).standard_normal((500, 3))
    network.forward(X, dropout_rng=np.random.default_rng(3))
    last = network.last_pass
    A, M, D = last.A[0], last.masks[0], last.inputs[1]
    kept = M != 0
    assert abs(1.0 - kept.mean() - p) < 0.01  # 200 000 draws: 4.5 standard deviations
    np.testing.assert_array_equal(D[kept], A[kept] / (1 - p))
    assert np.all(D[~kept] == 0)
    assert abs(D.mean() - A.mean()) < 0.01 * np.abs(A).mean()
    network.forward(X)  # evaluation: no generator, no mask
    assert network.last_pass.masks[0] is None
    np.testing.assert_array_equal(network.last_pass.inputs[1], network.last_pass.A[0])


def test_a_dropout_mask_comes_from_the_generator_and_nothing_else():
    network = dropout_network()
    X = np.ones((4, 3))
    masks = []
    for seed in (5, 5, 6):
        network.forward(X, dropout_rng=np.random.default_rng(seed))
        masks.append(network.last_pass.masks[0].copy())
    np.testing.assert_array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[0], masks[2])


def test_dropout_mask_keeps_float32():
    network = dropout_network(dtype=np.float32)
    Yhat = network.forward(np.ones((4, 3), np.float32), dropout_rng=np.random.default_rng(0))
    assert network.last_pass.masks[0].dtype == np.float32 and Yhat.dtype == np.float32


@pytest.mark.parametrize("loss_name", ["cross_entropy", "mse"])
def test_gradcheck_passes_through_dropout_and_per_layer_activations(loss_name):
    loss = LOSSES[loss_name]
    rng = np.random.default_rng(4)
    network = MLP.build(
        [4, 6, 5, 3],
        ["tanh", "sigmoid"],
        loss.output_activation or "identity",
        "xavier_normal",
        rng,
        np.float64,
        dropout=[0.5, 0.3],
    )
    X = rng.standard_normal((6, 4))
    Y = rng.integers(0, 3, 6) if loss.task == "classification" else rng.standard_normal((6, 3))
    results = check_gradients(network, X, Y, loss, weight_decay=0.01)
    for result in results:
        assert result.checked > 0 and result.passed, (result.name, result.max_rel_error)
        assert result.max_rel_error < 1e-6
    # the check really ran with masks: some hidden units were dropped, so their weights in the
    # next layer got exactly zero gradient in the analytic and the numerical gradient alike
    network.forward(X, dropout_rng=np.random.default_rng(0))
    assert (network.last_pass.masks[0] == 0).any()


def test_gradcheck_fails_when_backprop_ignores_the_mask(monkeypatch):
    rng = np.random.default_rng(4)
    network = MLP.build([4, 6, 3], "tanh", "softmax", "xavier_normal", rng, np.float64, 0.01, 0.5)
    X, Y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    original = MLP.backward

    def backward_without_masks(self, Y, loss, update=None, weights=None):
        # a backward pass that forgets the dropout masks: it differentiates the network as it
        # runs in evaluation, while the objective ran with the masks
        self.forward(self.last_pass.inputs[0].copy())
        original(self, Y, loss, update, weights)

    monkeypatch.setattr(MLP, "backward", backward_without_masks)
    results = {r.name: r for r in check_gradients(network, X, Y, LOSSES["cross_entropy"])}
    assert not results["W1"].passed and not results["b1"].passed


def test_gradcheck_command_checks_a_dropout_config(write_config, small_config):
    path = write_config(small_config(model={"hidden": None, "layers": LAYERS}))
    result = api.gradcheck(path, samples=6)
    assert result.passed and [c.name for c in result.checks][:2] == ["W1", "b1"]


def test_training_with_dropout_is_reproducible_and_dropout_changes_the_result(small_config):
    def trained(dropout):
        model = {"hidden": [16], "dropout": dropout}
        experiment = setup(config_from_dict(small_config(model=model, training={"epochs": 4})))
        fit(experiment)
        return experiment.network.state()

    first, second, without = trained(0.3), trained(0.3), trained(0.0)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    assert not np.array_equal(first["W1"], without["W1"])


def test_evaluation_and_prediction_do_not_drop_units(tmp_path, small_config):
    model = {"hidden": [32], "dropout": 0.5}
    run = api.train(small_config(model=model), out=tmp_path / "run")
    X = run.data("test").X
    first, second = run.network.predict(X).copy(), run.network.predict(X).copy()
    np.testing.assert_array_equal(first, second)
    plain = MLP.from_state(run.network.state(), "relu", "softmax", np.float32)
    np.testing.assert_array_equal(plain.predict(X), first)
    assert run.evaluate("test").metrics == run.evaluate("test").metrics


def test_explain_shows_the_dropout_lines_with_their_shapes(write_config, small_config):
    path = write_config(small_config(model={"hidden": None, "layers": LAYERS}))
    result = runner.invoke(app, ["explain", str(path), "--batch", "5"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "A1 = tanh(Z1)" in text and "A2 = relu(Z2)" in text
    assert "D1 = A1 ⊙ M1" in text and "(5×16) ⊙ (5×16) -> 5×16" in text
    assert "dropout p = 0.25, training only: M1 = [U ≥ p] / (1 − p)" in text
    assert "Z2 = D1·W2 + b2" in text and "dW2 = D1ᵀ·dZ2" in text
    assert "dD1 = dZ2·W2ᵀ" in text and "dA1 = dD1 ⊙ M1" in text
    assert "D2" not in text  # the second layer has no dropout


def test_inspect_summarises_per_layer_activations_and_dropout(tmp_path, small_config):
    run = api.train(small_config(model={"hidden": None, "layers": LAYERS}), out=tmp_path / "r")
    report = api.inspect(run.path)
    assert report["config"]["model"].startswith("2-16-8-2, tanh/relu hidden, dropout 0.25/0")
    assert [row["dropout"] for row in report["layers"]] == [0.25, 0.0, 0.0]
