"""Checkpoints, exact resume, stop signals (real subprocesses), divergence and gradient clipping."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import flat
from typer.testing import CliRunner

from bpcli.commands import app
from bpcli.config import validate
from bpcli.core.network import MLP, Parameter
from bpcli.runs.checkpoint import check_state, data_fingerprint
from bpcli.runs.checkpoint import load as load_checkpoint
from bpcli.runs.folder import RunFolder
from bpcli.training.experiment import setup
from bpcli.training.guard import BatchGuard, TrainingDiverged, TrainingInterrupted, squared_norm
from bpcli.training.loop import final_metrics, fit

runner = CliRunner()


def moons_config(optimizer: str, **training) -> dict:
    return {
        "name": "moons",
        "seed": 7,
        "data": {"source": "moons", "n_samples": 300, "noise": 0.3, "validation_split": 0.2},
        "model": {"hidden": [16, 8], "activation": "tanh"},
        "optimizer": {"name": optimizer, "lr": 0.05, "schedule": "cosine"},
        "training": {
            "epochs": 40,
            "batch_size": 16,
            "shuffle": True,
            "early_stopping": {"patience": 4, "monitor": "val_loss"},
            **training,
        },
    }


def without_seconds(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def assert_same_weights(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype
        assert np.array_equal(a[name], b[name]), name


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_stopped_after_epoch_k_and_resumed_is_bitwise_identical(tmp_path, optimizer):
    config = validate(moons_config(optimizer))
    whole = setup(config)
    whole_history = fit(whole)
    assert whole_history.stopped_early and len(whole_history.epochs) > 8  # early stopping did act

    first = setup(config)
    seen: list[dict] = []
    with pytest.raises(TrainingInterrupted) as stop:
        fit(first, seen.append, should_stop=lambda: signal.SIGINT if len(seen) >= 5 else None)
    assert stop.value.state.epoch == 5 and stop.value.exit_code == 130
    folder = RunFolder(tmp_path)
    folder.write_progress(stop.value.state, config, data_fingerprint(first))

    state, meta = load_checkpoint(tmp_path / "checkpoint.npz")  # a fresh process would do this
    resumed = setup(validate(moons_config(optimizer)))
    check_state(resumed, state, meta, tmp_path / "checkpoint.npz")
    history = fit(resumed, resume=state)

    assert_same_weights(resumed.network.state(), whole.network.state())
    assert without_seconds(history.epochs) == without_seconds(whole_history.epochs)
    assert (history.best_epoch, history.stopped_early) == (
        whole_history.best_epoch,
        whole_history.stopped_early,
    )
    assert final_metrics(resumed) == final_metrics(whole)
    assert resumed.optimizer.steps == whole.optimizer.steps


def test_checkpoints_every_n_epochs_and_at_the_end():
    config = validate(moons_config("adam", epochs=7, checkpoint_every=3, early_stopping=None))
    epochs = []
    fit(setup(config), on_checkpoint=lambda state: epochs.append(state.epoch))
    assert epochs == [3, 6, 7]


def test_checkpoint_holds_plain_weights_usable_as_init_from(tmp_path):
    config = moons_config("adam", epochs=3)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(
        app, ["train", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r"), "-q"]
    )
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "r" / "checkpoint.npz", allow_pickle=False) as archive:
        assert {"W1", "b1", "W3", "b3", "meta"} <= set(archive.files)
        assert any(name.startswith("optimizer.exp_avg.") for name in archive.files)
    config["model"]["init_from"] = str(tmp_path / "r" / "checkpoint.npz")
    (tmp_path / "c2.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["validate", str(tmp_path / "c2.yaml")])
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------------------- real signals
# The run is far longer than any test waits (ENDLESS epochs), and the signal is sent once the run
# has printed its first epoch: a state of the run, not a moment in time. Resuming then trains to a
# few epochs past the stop, and an uninterrupted run of that length is the reference.

ENDLESS = 100_000
SLOW = {
    "name": "slow",
    "seed": 3,
    "data": {"source": "digits"},
    "model": {"hidden": [64]},
    "optimizer": {"name": "momentum", "lr": 0.05},
    "training": {"epochs": ENDLESS, "batch_size": 16, "early_stopping": {"patience": 50}},
}


def start_training(tmp_path: Path, run: str) -> subprocess.Popen:
    config = tmp_path / "slow.yaml"
    config.write_text(yaml.safe_dump(SLOW))
    return subprocess.Popen(
        [sys.executable, "-m", "bpcli", "train", str(config), "--out", str(tmp_path / run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )


def wait_for_first_epoch(process: subprocess.Popen) -> list[str]:
    """Read stderr up to the first epoch line: the run has started training and is still running."""
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith("epoch 1/"):
            assert process.poll() is None, "the run ended before it was signalled"
            return lines
    raise AssertionError(f"no epoch line: {''.join(lines)}")


def metrics_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as handle:
        return without_seconds(list(csv.DictReader(handle)))


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_at_a_batch_boundary_and_resume_is_exact(tmp_path, signum, code):
    process = start_training(tmp_path, "run")
    wait_for_first_epoch(process)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err and out == ""
    run = tmp_path / "run"
    assert f"resume with: bpcli train --resume {run}" in flat(err)
    assert not (run / "summary.json").exists() and not (run / "weights.npz").exists()
    state, _ = load_checkpoint(run / "checkpoint.npz")
    assert 1 <= state.epoch < ENDLESS
    assert [int(row["epoch"]) for row in metrics_rows(run)] == list(range(1, state.epoch + 1))
    assert not list(run.glob(".*tmp"))

    epochs = f"training.epochs={state.epoch + 2}"
    resumed = runner.invoke(app, ["train", "--resume", str(run), "-q", "--set", epochs])
    assert resumed.exit_code == 0, resumed.output
    whole = tmp_path / "whole"
    args = ["train", str(tmp_path / "slow.yaml"), "--out", str(whole), "-q", "--set", epochs]
    assert runner.invoke(app, args).exit_code == 0
    with np.load(run / "weights.npz") as a, np.load(whole / "weights.npz") as b:
        assert_same_weights(dict(a), dict(b))
    assert metrics_rows(run) == metrics_rows(whole)
    assert len(metrics_rows(whole)) == state.epoch + 2
    summaries = [json.loads((p / "summary.json").read_text()) for p in (run, whole)]
    assert summaries[0]["metrics"] == summaries[1]["metrics"]


def test_a_second_ctrl_c_exits_at_once_without_corrupt_files(tmp_path):
    process = start_training(tmp_path, "run")
    wait_for_first_epoch(process)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and out == ""
    run = tmp_path / "run"
    assert not list(run.glob(".*tmp"))
    assert not (run / "summary.json").exists()
    if (run / "checkpoint.npz").exists():  # written whole by the first signal, or not at all
        state, _ = load_checkpoint(run / "checkpoint.npz")
        assert 1 <= state.epoch < ENDLESS


# ---------------------------------------------------------------------------- divergence


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_state(tmp_path):
    args = ["train", "configs/sine.yaml", "--out", str(tmp_path / "r"), "-q"]
    args += [
        "--set",
        "optimizer.name=sgd",
        "--set",
        "optimizer.lr=50",
        "--set",
        "training.epochs=5",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    message = flat(result.output)
    assert "training diverged at epoch 1, batch" in message
    assert "first non-finite tensor" in message and "lower optimizer.lr" in message
    assert "Traceback" not in result.output and "RuntimeWarning" not in result.output
    run = tmp_path / "r"
    assert not (run / "summary.json").exists() and not (run / "weights.npz").exists()
    state, _ = load_checkpoint(run / "checkpoint.npz")
    assert state.epoch == 0 and all(np.isfinite(w).all() for w in state.weights.values())

    fixed = runner.invoke(app, ["train", "--resume", str(run), "-q", "--set", "optimizer.lr=0.01"])
    assert fixed.exit_code == 0, fixed.output
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs_run"] == 5 and math.isfinite(summary["metrics"]["train"]["loss"])


def tiny_network() -> MLP:
    return MLP.build([2, 3, 1], "tanh", "identity", "xavier_uniform", np.random.default_rng(0))


def test_guard_names_the_first_non_finite_gradient():
    network = tiny_network()
    # A NaN in dZ_2 reaches both dW2 = A1ᵀ·dZ2 and db2 = Σ_rows dZ2: the guard reads db.
    network.layers[1].dW[0, 0] = np.nan
    network.layers[1].db[0] = np.nan
    guard = BatchGuard(network, hint="lower the rate")
    guard.start_epoch(3)
    with pytest.raises(TrainingDiverged) as error:
        guard(0.5, network.parameters())
    assert "epoch 3, batch 1: a gradient is non-finite" in error.value.message
    assert "gradient of W2 (layer 2)" in error.value.message
    assert error.value.hint == "lower the rate" and error.value.exit_code == 1


def test_guard_with_clipping_reads_every_gradient():
    network = tiny_network()
    network.layers[1].dW[0, 0] = np.inf
    guard = BatchGuard(network, clip_norm=1.0)
    guard.start_epoch(1)
    with pytest.raises(TrainingDiverged, match="gradient of W2"):
        guard(0.5, network.parameters())


def test_guard_names_a_non_finite_weight_when_the_loss_is_nan():
    network = tiny_network()
    network.layers[0].b[1] = np.inf
    guard = BatchGuard(network)
    guard.start_epoch(1)
    with pytest.raises(TrainingDiverged, match=r"the loss is nan.*weight b1 \(layer 1\)"):
        guard(float("nan"), network.parameters())


def test_guard_checks_weights_at_the_end_of_an_epoch():
    network = tiny_network()
    network.layers[0].W[0, 0] = np.nan
    with pytest.raises(TrainingDiverged, match="end of epoch 0: a weight is non-finite"):
        BatchGuard(network).check_epoch(0.1)


def test_clip_grad_norm_scales_the_global_norm():
    g1, g2 = np.array([3.0, 0.0], np.float32), np.array([[0.0], [4.0]], np.float32)
    params = [Parameter("W1", np.zeros(2), g1, True), Parameter("W2", np.zeros((2, 1)), g2, True)]
    BatchGuard(tiny_network(), clip_norm=1.0)(0.1, params)
    assert math.isclose(math.sqrt(squared_norm([g1, g2])), 1.0, rel_tol=1e-5)
    assert np.allclose(g1, [0.6, 0.0], atol=1e-6) and np.allclose(g2, [[0.0], [0.8]], atol=1e-6)
    BatchGuard(tiny_network(), clip_norm=10.0)(0.1, params)  # under the limit: unchanged
    assert np.allclose(g1, [0.6, 0.0], atol=1e-6)


def test_squared_norm_survives_float32_overflow_of_finite_values():
    big = np.full(4, 1e20, np.float32)
    assert math.isclose(squared_norm([big]), 4e40, rel_tol=1e-5)


def test_clip_grad_norm_trains_and_is_validated(tmp_path):
    args = ["train", "configs/xor.yaml", "--out", str(tmp_path / "r"), "-q"]
    result = runner.invoke(app, [*args, "--set", "training.clip_grad_norm=0.5"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["validate", "configs/xor.yaml", "--set", "training.clip_grad_norm=0"]
    )
    assert result.exit_code == 2 and "training.clip_grad_norm" in flat(result.output)


# ---------------------------------------------------------------------------- resume edge cases


def test_resuming_a_finished_run_does_nothing(tmp_path):
    run = tmp_path / "r"
    assert runner.invoke(app, ["train", "configs/xor.yaml", "--out", str(run), "-q"]).exit_code == 0
    before = (run / "weights.npz").read_bytes()
    result = runner.invoke(app, ["train", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    assert "nothing to resume" in flat(result.output)
    assert (run / "weights.npz").read_bytes() == before
