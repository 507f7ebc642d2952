"""training.keep: best saves the best epoch's weights by training.monitor without early stopping;
summary.json, inspect and the final table say which epoch was kept; one monitor for the best epoch."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from helpers import flat, runner

from bpcli import api
from bpcli.commands import app
from bpcli.config import config_from_dict
from bpcli.runs.checkpoint import check_state, data_fingerprint
from bpcli.runs.checkpoint import load as load_checkpoint
from bpcli.runs.folder import RunFolder
from bpcli.training.experiment import setup
from bpcli.training.guard import TrainingInterrupted
from bpcli.training.loop import fit


def moons(**training):
    """A run that overfits noisy moons: its validation loss is lowest at epoch 4 of 25."""
    return {
        "seed": 2,
        "data": {"source": "moons", "n_samples": 200, "noise": 0.35, "validation_split": 0.3},
        "model": {"hidden": [64, 64]},
        "optimizer": {"name": "adam", "lr": 0.02},
        "training": {"epochs": 25, "batch_size": 16, **training},
    }


def weights_of(run_dir):
    with np.load(run_dir / "weights.npz") as archive:
        return dict(archive)


def test_keep_best_saves_the_best_epochs_weights(tmp_path):
    best = api.train(moons(keep="best"), out=tmp_path / "best")
    losses = [record["val_loss"] for record in best.history]
    epoch = int(np.argmin(losses)) + 1
    assert epoch < len(losses)  # the last epoch is not the best, or this test shows nothing
    assert best.summary["best_epoch"] == best.summary["weights_epoch"] == epoch
    assert best.summary["best_metric"] == "val_loss" and best.summary["keep"] == "best"
    # the same run stopped after the best epoch has bitwise the same weights
    short = api.train(moons(epochs=epoch), out=tmp_path / "short")
    saved, expected = weights_of(best.path), weights_of(short.path)
    for name in expected:
        assert np.array_equal(saved[name], expected[name]), name
    assert best.summary["metrics"]["validation"]["loss"] == pytest.approx(losses[epoch - 1])
    last = api.train(moons(), out=tmp_path / "last")
    assert last.summary["weights_epoch"] == 25
    assert not np.array_equal(weights_of(last.path)["W1"], saved["W1"])


def test_keep_best_by_accuracy_takes_the_highest(tmp_path):
    run = api.train(moons(keep="best", monitor="val_accuracy"), out=tmp_path / "r")
    accuracies = [record["val_accuracy"] for record in run.history]
    assert run.summary["weights_epoch"] == int(np.argmax(accuracies)) + 1  # the first of ties


def test_inspect_and_the_final_table_name_the_kept_epoch(tmp_path, write_config):
    result = runner.invoke(
        app, ["train", str(write_config(moons(keep="best"))), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    kept = summary["weights_epoch"]
    assert f"final metrics, weights of epoch {kept} (best val_loss)" in flat(result.stderr)
    report = runner.invoke(app, ["inspect", str(tmp_path / "r"), "--json"])
    assert json.loads(report.stdout)["training"]["weights_epoch"] == kept
    text = runner.invoke(app, ["inspect", str(tmp_path / "r")]).output
    assert f"weights from epoch {kept}" in flat(text)


def test_resume_with_keep_best_is_exact(tmp_path):
    config = config_from_dict(moons(keep="best", epochs=12))
    whole = setup(config)
    whole_history = fit(whole)
    first = setup(config)
    seen: list[dict] = []
    with pytest.raises(TrainingInterrupted) as stop:
        fit(first, seen.append, should_stop=lambda: signal.SIGINT if len(seen) >= 7 else None)
    RunFolder(tmp_path).write_progress(stop.value.state, config, data_fingerprint(first))
    state, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert state.best_weights is not None
    resumed = setup(config_from_dict(moons(keep="best", epochs=12)))
    check_state(resumed, state, meta, tmp_path / "checkpoint.npz")
    history = fit(resumed, resume=state)
    assert history.restored_best and history.best_epoch == whole_history.best_epoch
    for name, array in whole.network.state().items():
        assert np.array_equal(resumed.network.state()[name], array), name


@pytest.mark.parametrize(
    "training, data, phrases",
    [
        ({"keep": "best"}, {"validation_split": 0}, ["training.keep", "needs a validation split"]),
        (
            {"monitor": "val_accuracy", "early_stopping": {"monitor": "val_loss"}},
            {},
            ["training.early_stopping.monitor", "differs from training.monitor 'val_accuracy'"],
        ),
        (
            {"keep": "best", "early_stopping": {"restore_best": False}},
            {},
            ["training.early_stopping.restore_best", "contradicts training.keep: best"],
        ),
        ({"monitor": "val_mae"}, {}, ["training.monitor", "'val_mae' is not measured"]),
        ({"keep": "first"}, {}, ["training.keep", "'last' or 'best'"]),
    ],
)
def test_keep_and_monitor_mistakes_are_exit_2(write_config, training, data, phrases):
    config = moons(**training)
    config["data"].update(data)
    result = runner.invoke(app, ["validate", str(write_config(config))])
    assert result.exit_code == 2, result.output
    for phrase in phrases:
        assert phrase in flat(result.stderr)


def test_early_stopping_follows_training_monitor(tmp_path):
    config = moons(monitor="val_accuracy", early_stopping={"patience": 3})
    run = api.train(config, out=tmp_path / "r")
    accuracies = [record["val_accuracy"] for record in run.history]
    assert run.summary["best_metric"] == "val_accuracy"
    assert run.summary["best_epoch"] == int(np.argmax(accuracies)) + 1
    assert run.summary["stopped_early"] and len(accuracies) == run.summary["best_epoch"] + 3


@pytest.mark.parametrize(
    "override, phrase",
    [
        ("training.keep=best", "changes which weights are kept"),
        ("training.monitor=val_accuracy", "changes which epoch counts as best"),
        ("training.class_weight=balanced", "changes the loss"),
        ("model.dropout=0.5", "changes the model"),
    ],
)
def test_a_resume_cannot_change_what_the_trained_epochs_were_judged_by(tmp_path, override, phrase):
    run = api.train(moons(epochs=2), out=tmp_path / "r")
    result = runner.invoke(app, ["train", "--resume", str(run.path), "--set", override])
    assert result.exit_code == 2, result.output
    assert phrase in flat(result.stderr)
