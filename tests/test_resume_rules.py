"""What --resume may change, what a resume that does nothing leaves behind (nothing), and how an
early-stopped run trains on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import CONFIGS, flat, runner, train

from bpcli.commands import app


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder with its bytes and modification time."""
    return {
        f.name: (f.read_bytes(), f.stat().st_mtime_ns)
        for f in sorted(folder.iterdir())
        if f.is_file()
    }


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """iris with patience 5: it stops early well before its 100 epochs."""
    run = tmp_path_factory.mktemp("stopped") / "iris"
    return train(CONFIGS / "iris.yaml", run, "training.early_stopping.patience=5")


@pytest.fixture
def run_copy(stopped_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(stopped_run, copy)
    return copy


def resume(run: Path, *overrides: str, quiet: bool = True):
    args = ["train", "--resume", str(run), *(["-q"] if quiet else [])]
    for override in overrides:
        args += ["--set", override]
    return runner.invoke(app, args)


@pytest.mark.parametrize(
    ("override", "changes"),
    [
        ("model.activation=sigmoid", "changes the model: start a new run, or use model.init_from"),
        ("model.hidden=[4]", "changes the model"),
        ("training.dtype=float64", "changes the dtype"),
        ("data.test_split=0.3", "changes the data"),
        ("seed=3", "changes the data split and the initial weights"),
        ("loss=mse", "changes the loss"),
        ("optimizer.weight_decay=0.1", "changes the optimizer"),
        ("optimizer.name=sgd", "changes the optimizer"),
        ("training.batch_size=8", "changes the batches"),
        ("training.early_stopping.monitor=val_accuracy", "changes which epoch counts as best"),
    ],
)
def test_a_setting_that_cannot_change_mid_run_is_refused_and_changes_nothing(
    run_copy, override, changes
):
    before = snapshot(run_copy)
    result = resume(run_copy, override, "training.epochs=200")
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert f"--set {override.partition('=')[0]} (--resume): {changes}" in message
    assert "Traceback" not in result.output
    assert snapshot(run_copy) == before


def test_a_resume_with_nothing_to_do_changes_no_file(tmp_path):
    run = train(CONFIGS / "xor.yaml", tmp_path / "xor", "training.epochs=5")
    before = snapshot(run)
    result = resume(run, "training.clip_grad_norm=1.0", quiet=False)
    assert result.exit_code == 0, result.output
    assert "already finished after epoch 5 of 5: nothing to resume" in flat(result.stderr)
    assert result.stdout.strip() == str(run)
    assert snapshot(run) == before


def test_an_early_stopped_run_says_how_to_train_on_and_changes_nothing(run_copy):
    before = snapshot(run_copy)
    done = summary(run_copy)["epochs_run"]
    result = resume(run_copy, quiet=False)
    assert result.exit_code == 0, result.output
    message = flat(result.stderr)
    assert f"stopped early after epoch {done}: nothing to resume" in message
    assert "raise training.epochs or change training.early_stopping" in message
    assert snapshot(run_copy) == before


def test_more_epochs_reopen_an_early_stopped_run_with_fresh_patience(run_copy):
    first = summary(run_copy)
    assert first["stopped_early"] and first["epochs_run"] < 100
    result = resume(run_copy, "training.epochs=400")
    assert result.exit_code == 0, result.output
    after = summary(run_copy)
    assert after["epochs_run"] >= first["epochs_run"] + 5  # patience 5 counts afresh
    assert after["best_epoch"] >= first["best_epoch"]  # the best of the whole run is kept
    assert after["weights_epoch"] == after["best_epoch"]
    assert "epochs: 400" in (run_copy / "config.yaml").read_text()


def test_turning_early_stopping_off_trains_to_the_epoch_budget(run_copy):
    result = resume(run_copy, "training.early_stopping=null")
    assert result.exit_code == 0, result.output
    after = summary(run_copy)
    assert after["epochs_run"] == 100 and not after["stopped_early"]
    assert after["weights_epoch"] == 100


def test_patience_may_change_on_resume(run_copy):
    result = resume(run_copy, "training.early_stopping.patience=8")
    assert result.exit_code == 0, result.output
    assert summary(run_copy)["epochs_run"] > summary(run_copy)["best_epoch"] + 7
