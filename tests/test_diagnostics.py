"""Backward-pass diagnostics: the per-layer numbers, the warnings, diagnostics.csv and the fit hooks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from typer.testing import CliRunner

from bpcli.commands import app
from bpcli.config import load_config
from bpcli.core.losses import LOSSES
from bpcli.core.network import MLP
from bpcli.errors import RunError
from bpcli.runs import files
from bpcli.runs.folder import RunFolder
from bpcli.training import diagnostics
from bpcli.training.diagnostics import Diagnostics, epoch_alerts
from bpcli.training.experiment import setup
from bpcli.training.loop import fit

runner = CliRunner()
CONFIGS = "configs"
RELU_MOONS = ["model.activation=relu", "model.init=he_normal", "training.epochs=4"]
KILLER = [*RELU_MOONS, "optimizer.name=sgd", "optimizer.lr=5"]
"""A huge plain-SGD step: the first updates push the second layer's biases so low it never fires again."""


def train(tmp_path, name: str, overrides: list[str], *extra: str):
    args = ["train", f"{CONFIGS}/moons.yaml", "--out", str(tmp_path / name), *extra]
    for override in overrides:
        args += ["--set", override]
    return runner.invoke(app, args)


def test_huge_learning_rate_kills_relus_and_warns(tmp_path):
    result = train(tmp_path, "killed", KILLER)
    assert result.exit_code == 0, result.output
    assert "ReLU units are dead" in result.stderr
    assert "leaky_relu" in result.stderr  # the hint
    assert result.stdout.strip() == str(tmp_path / "killed")  # warnings never reach stdout
    rows = RunFolder(tmp_path / "killed").read_diagnostics()
    assert max(r["dead_fraction"] or 0 for r in rows) > 0.5
    assert result.stderr.count("ReLU units are dead") == len(
        {a.layer for a in diagnostics.alerts(rows) if a.kind == "dead_relu"}
    )  # each problem is reported once, not every epoch


def test_healthy_config_raises_no_warning(tmp_path):
    result = train(tmp_path, "healthy", RELU_MOONS)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    rows = RunFolder(tmp_path / "healthy").read_diagnostics()
    assert len(rows) == 4 * 3  # epochs x layers
    assert all(r["dead_fraction"] < 0.5 for r in rows if r["activation"] == "relu")
    assert diagnostics.alerts(rows) == []


def test_quiet_hides_warnings(tmp_path):
    result = train(tmp_path, "quiet", KILLER, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "quiet")


def test_diagnostics_can_be_switched_off(tmp_path):
    result = train(tmp_path, "off", [*KILLER, "training.diagnostics=false"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "off" / "diagnostics.csv").exists()
    assert "warning" not in result.output


def test_diagnostics_setting_is_validated(tmp_path):
    result = train(tmp_path, "bad", ["training.diagnostics=sometimes"])
    assert result.exit_code == 2
    assert "training.diagnostics" in result.output


def tiny_network(activation: str, rng) -> MLP:
    return MLP.build([3, 4, 2], activation, "softmax", "he_normal", rng, np.float64)


def one_batch(network: MLP, rng):
    X = rng.standard_normal((8, 3))
    Y = rng.integers(0, 2, 8)
    network.forward(X)
    network.backward(Y, LOSSES["cross_entropy"])
    return X, Y


def test_numbers_of_one_batch_match_their_definitions():
    rng = np.random.default_rng(0)
    network = tiny_network("relu", rng)
    network.layers[0].b[:3] = -100.0  # three of four units can never fire
    observer = Diagnostics(network)
    one_batch(network, rng)
    observer.after_backward(network)
    grads = [np.linalg.norm(layer.dW) for layer in network.layers]
    before = [layer.W.copy() for layer in network.layers]
    for layer in network.layers:  # a plain SGD step, lr 0.1
        layer.W -= 0.1 * layer.dW
    observer.after_step(network)
    observer.end_epoch({"epoch": 1})
    first, output = observer.rows
    assert first["grad_norm"] == pytest.approx(grads[0])
    assert output["grad_norm"] == pytest.approx(grads[1])
    assert first["update_ratio"] == pytest.approx(0.1 * grads[0] / np.linalg.norm(before[0]))
    assert first["dead_fraction"] == 0.75
    assert output["dead_fraction"] is None  # the output layer is not judged
    assert [a.kind for a in observer.alerts] == ["dead_relu"]


def test_gradient_norm_is_the_rms_over_batches():
    rng = np.random.default_rng(1)
    network = tiny_network("tanh", rng)
    observer = Diagnostics(network)
    squares = []
    for _ in range(3):
        one_batch(network, rng)
        squares.append(np.sum(network.layers[0].dW ** 2))
        observer.after_backward(network)
    observer.end_epoch({"epoch": 1})
    assert observer.rows[0]["grad_norm"] == pytest.approx(math.sqrt(np.mean(squares)))


def test_saturation_counts_pre_activations_beyond_four():
    rng = np.random.default_rng(2)
    network = tiny_network("tanh", rng)
    network.layers[0].W[:] = 0.0
    network.layers[0].b[:] = [10.0, -10.0, 0.0, 3.9]  # two saturated units, two not
    observer = Diagnostics(network)
    one_batch(network, rng)
    observer.after_backward(network)
    observer.end_epoch({"epoch": 1})
    assert observer.rows[0]["saturated_fraction"] == 0.5
    assert observer.rows[0]["dead_fraction"] is None


def row(epoch, norm, dead=None, layer=1):
    return {
        "epoch": epoch,
        "layer": layer,
        "activation": "relu",
        "grad_norm": norm,
        "dead_fraction": dead,
    }


@pytest.mark.parametrize(
    ("rows", "kinds"),
    [
        ([row(5, 0.5, 0.1)], []),
        ([row(5, 1e-7, 0.1)], ["vanishing"]),
        ([row(5, 1e5)], ["exploding"]),
        ([row(5, math.nan)], ["exploding"]),
        ([row(5, 0.5, 0.5)], []),  # exactly half dead: not yet "over half"
        ([row(5, 0.5, 0.51)], ["dead_relu"]),
        ([row(5, 0.0, 1.0)], ["vanishing", "dead_relu"]),
    ],
)
def test_alert_rules(rows, kinds):
    assert [a.kind for a in epoch_alerts(rows, {1: 1.0})] == kinds


def test_no_relative_judgement_without_a_usable_first_norm():
    assert epoch_alerts([row(2, 0.0)], {1: 0.0}) == []
    assert [a.kind for a in epoch_alerts([row(2, 0.0)], {1: math.inf})] == []


def test_alerts_from_csv_rows_are_reported_once_per_layer():
    rows = [row(1, 1.0), row(2, 1e-8, 0.9), row(3, 1e-9, 0.95), row(3, 1.0, 0.0, layer=2)]
    assert [(a.kind, a.epoch) for a in diagnostics.alerts(rows)] == [
        ("vanishing", 2),
        ("dead_relu", 2),
    ]


def test_csv_round_trip_and_corrupt_file(tmp_path):
    rows = [
        {**row(1, 0.25, 0.0), "units": 4, "update_ratio": 1e-3, "saturated_fraction": None},
    ]
    path = tmp_path / "diagnostics.csv"
    path.write_text(files.diagnostics_csv(rows))
    assert files.read_diagnostics(path) == rows
    path.write_text("epoch,layer\n1,one\n")
    with pytest.raises(RunError, match="not a readable diagnostics file"):
        files.read_diagnostics(path)


class CountingObserver:
    def __init__(self):
        self.batches, self.steps, self.epochs, self.fresh = 0, 0, [], True

    def after_backward(self, network):
        self.batches += 1
        self.fresh &= all(np.any(layer.dW) for layer in network.layers)

    def after_step(self, network):
        self.steps += 1

    def end_epoch(self, record):
        self.epochs.append(record["epoch"])


def test_fit_calls_the_observer_once_per_batch_and_epoch():
    config = load_config(f"{CONFIGS}/moons.yaml", ["training.epochs=3", "training.batch_size=50"])
    experiment = setup(config)
    observer = CountingObserver()
    fit(experiment, None, observer=observer)
    batches = math.ceil(len(experiment.data.splits["train"]) / 50)
    assert observer.batches == 3 * batches
    assert observer.epochs == [1, 2, 3]
    assert observer.fresh  # called before the optimizer step consumes the gradients


def test_diagnostics_continue_across_a_resume(tmp_path):
    from helpers import runner

    from bpcli.commands import app

    config = tmp_path / "c.yaml"
    config.write_text(
        "data: {source: moons, n_samples: 120}\nmodel: {hidden: [8]}\ntraining: {epochs: 2}\n"
    )
    first = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "-q"])
    assert first.exit_code == 0, first.output
    longer = ["train", "--resume", str(tmp_path / "run"), "--set", "training.epochs=4", "-q"]
    resumed = runner.invoke(app, longer)
    assert resumed.exit_code == 0, resumed.output
    rows = RunFolder(tmp_path / "run").read_diagnostics()
    assert sorted({row["epoch"] for row in rows}) == [1, 2, 3, 4]
    assert len(rows) == 4 * 2  # two layers per epoch
