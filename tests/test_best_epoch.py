"""Early stopping says what it did, and the best epoch has one definition: stored in summary.json,
read by inspect and by train's final display."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from helpers import CONFIGS, flat, runner

from bpcli.commands import app


def train(tmp_path: Path, config: Path, *overrides: str, quiet: bool = False):
    run = tmp_path / "run"
    args = ["train", str(config), "--out", str(run), *(["-q"] if quiet else [])]
    for override in overrides:
        args += ["--set", override]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return run, result


def summary_and_report(run: Path) -> tuple[dict, dict]:
    report = runner.invoke(app, ["inspect", str(run), "--json"])
    assert report.exit_code == 0, report.output
    return json.loads((run / "summary.json").read_text()), json.loads(report.stdout)["training"]


def records(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def test_early_stopping_says_where_it_stopped_and_which_weights_it_kept(tmp_path):
    run, result = train(tmp_path, CONFIGS / "iris.yaml", "training.early_stopping.patience=5")
    summary, report = summary_and_report(run)
    err = flat(result.stderr)
    found = re.search(
        r"stopped early at epoch (\d+): val_loss did not improve for 5 epochs; "
        r"restored weights from epoch (\d+) \(val_loss ([0-9.]+)\)",
        err,
    )
    assert found, err
    stopped, best = int(found[1]), int(found[2])
    assert summary["stopped_early"] and stopped == summary["epochs_run"] < 100
    assert best == summary["best_epoch"] == report["best_epoch"] == summary["weights_epoch"]
    assert found[3] == f"{summary['best_value']:.4g}"
    # The final table shows the restored weights: its validation loss is the best epoch's.
    assert re.search(rf"│ validation │ +{found[3]} │", result.stderr)
    assert f"(best {found[3]} at epoch {best})" in err  # the one-line summary agrees


def test_quiet_silences_the_early_stopping_line(tmp_path):
    _, result = train(
        tmp_path, CONFIGS / "iris.yaml", "training.early_stopping.patience=5", quiet=True
    )
    assert "stopped early" not in result.output


def test_without_early_stopping_the_best_epoch_is_the_lowest_val_loss(tmp_path):
    run, result = train(tmp_path, CONFIGS / "digits.yaml", "training.epochs=6")
    summary, report = summary_and_report(run)
    rows = records(run)
    lowest = min(rows, key=lambda r: float(r["val_loss"]))
    assert summary["best_epoch"] == report["best_epoch"] == int(lowest["epoch"])
    assert summary["best_metric"] == report["best_by"] == "val_loss"
    assert summary["weights_epoch"] == 6  # the last epoch's weights are the saved ones
    assert "stopped early" not in result.stderr


@pytest.mark.parametrize("restore", [True, False])
def test_a_monitored_accuracy_is_the_best_epoch_everywhere(tmp_path, restore):
    run, result = train(
        tmp_path,
        CONFIGS / "iris.yaml",
        "training.early_stopping={patience: 5, monitor: val_accuracy}",
        f"training.early_stopping.restore_best={str(restore).lower()}",
    )
    summary, report = summary_and_report(run)
    rows = records(run)
    top = max(float(r["val_accuracy"]) for r in rows)
    first_top = next(int(r["epoch"]) for r in rows if float(r["val_accuracy"]) == top)
    assert summary["best_epoch"] == report["best_epoch"] == first_top
    assert summary["best_metric"] == report["best_by"] == "val_accuracy"
    err = flat(result.stderr)
    if restore:
        assert summary["weights_epoch"] == first_top
        assert f"restored weights from epoch {first_top} (val_accuracy {top:.4g})" in err
    else:
        assert summary["weights_epoch"] == summary["epochs_run"]
        assert (
            f"kept the weights of epoch {summary['epochs_run']} (restore_best is off; "
            f"the best was epoch {first_top}, val_accuracy {top:.4g})"
        ) in err
