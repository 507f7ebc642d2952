"""The task is never guessed silently, and regression targets are standardized while training while
everything users read (predictions, eval, reported losses) stays in the target's own units."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import flat, runner

from bpcli.commands import app


def house_prices(folder: Path, rows: int = 300, decimals: int = 0) -> Path:
    """Prices around 300,000: price = 300000 + 50000 x0 − 30000 x1 + 10000 x2 + noise."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 3))
    price = 3e5 + X @ [5e4, -3e4, 1e4] + 5e3 * rng.standard_normal(rows)
    path = folder / "houses.csv"
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["x0", "x1", "x2", "price"])
        for features, value in zip(X, np.round(price, decimals), strict=True):
            writer.writerow([*features, value if decimals else int(value)])
    return path


def write_config(folder: Path, **document) -> Path:
    path = folder / "houses.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def train(config: Path, out: Path, *args: str):
    return runner.invoke(app, ["train", str(config), "--out", str(out), "-q", *args])


# ---------------------------------------------------------------------------- the task


def test_a_numeric_target_with_many_values_is_not_silently_a_classifier(tmp_path):
    config = write_config(tmp_path, data={"source": str(house_prices(tmp_path))})
    result = train(config, tmp_path / "run")
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert "target 'price' has 300 distinct numeric values" in message
    assert "for regression set loss: mse" in message
    assert not (tmp_path / "run").exists()


def test_non_integer_numbers_are_never_class_labels(tmp_path):
    data = house_prices(tmp_path, decimals=2)
    for loss in (None, "cross_entropy"):
        document = {"data": {"source": str(data)}, **({"loss": loss} if loss else {})}
        result = train(write_config(tmp_path, **document), tmp_path / "run")
        assert result.exit_code == 2, result.output
        assert "holds non-integer numbers" in flat(result.stderr)
        assert "for regression set loss: mse" in flat(result.stderr)


def test_a_built_in_regression_source_with_the_default_loss_says_so(tmp_path):
    result = train(write_config(tmp_path, data={"source": "sine"}), tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert "for regression set loss: mse" in flat(result.stderr)


def test_an_explicit_classification_loss_takes_many_integer_classes(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2))
    np.save(tmp_path / "many.npy", np.c_[X, np.arange(200) % 30])
    document = {"data": {"source": str(tmp_path / "many.npy")}, "training": {"epochs": 1}}
    guessed = train(write_config(tmp_path, **document), tmp_path / "a")
    assert guessed.exit_code == 2 and "30 distinct numeric values" in flat(guessed.stderr)
    given = train(write_config(tmp_path, **document, loss="cross_entropy"), tmp_path / "b")
    assert given.exit_code == 0, given.output
    prep = json.loads((tmp_path / "b" / "preprocess.json").read_text())
    assert prep["outputs"] == 30


# ---------------------------------------------------------------------------- target scaling


@pytest.fixture(scope="module")
def price_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("prices")
    config = write_config(
        folder,
        data={"source": str(house_prices(folder))},
        loss="mse",
        training={"epochs": 40},
    )
    result = train(config, folder / "run")
    assert result.exit_code == 0, result.output
    return folder / "run"


def test_large_targets_train_well_with_the_defaults(price_run):
    summary = json.loads((price_run / "summary.json").read_text())
    assert summary["metrics"]["test"]["r2"] > 0.9
    prep = json.loads((price_run / "preprocess.json").read_text())
    assert prep["target_mean"][0] == pytest.approx(3e5, rel=0.05)
    assert prep["target_std"][0] == pytest.approx(6e4, rel=0.2)
    config = yaml.safe_load((price_run / "config.yaml").read_text())
    assert config["data"]["standardize_target"] is True


def test_predictions_and_losses_are_in_the_targets_units(price_run):
    data = Path(yaml.safe_load((price_run / "config.yaml").read_text())["data"]["source"])
    result = runner.invoke(app, ["predict", str(price_run), str(data)])
    assert result.exit_code == 0, result.output
    predicted = np.array(
        [float(r["prediction"]) for r in csv.DictReader(io.StringIO(result.stdout))]
    )
    truth = np.loadtxt(data, delimiter=",", skiprows=1, usecols=3)
    assert abs(predicted.mean() - truth.mean()) < 1e4  # dollars, not standard deviations
    report = runner.invoke(app, ["eval", str(price_run), "--data", str(data), "--json"])
    assert report.exit_code == 0, report.output
    metrics = json.loads(report.stdout)["metrics"]
    mse = np.mean((predicted - truth) ** 2)
    assert metrics["mse"] == pytest.approx(mse, rel=1e-4)
    assert metrics["loss"] == pytest.approx(mse, rel=1e-4)  # the mse loss, in dollars²
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(predicted - truth)), rel=1e-4)
    # The validation loss training reported for its last epoch is in the same units.
    with open(price_run / "metrics.csv", newline="") as stream:
        last = list(csv.DictReader(stream))[-1]
    split = runner.invoke(app, ["eval", str(price_run), "--split", "validation", "--json"])
    assert float(last["val_loss"]) == pytest.approx(json.loads(split.stdout)["metrics"]["loss"])


def test_gradcheck_and_explain_say_the_targets_are_standardized(price_run):
    report = runner.invoke(app, ["gradcheck", str(price_run), "--json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["targets_standardized"] is True
    table = runner.invoke(app, ["gradcheck", str(price_run)])
    assert "loss mse on standardized targets" in flat(table.stderr)
    explained = runner.invoke(app, ["explain", str(price_run)])
    assert "Y holds the targets standardized with the training split's mean and std" in flat(
        explained.stdout
    )


def test_standardize_target_can_be_switched_off(tmp_path):
    config = write_config(
        tmp_path,
        data={"source": str(house_prices(tmp_path)), "standardize_target": False},
        loss="mse",
        training={"epochs": 2},
    )
    assert train(config, tmp_path / "run").exit_code == 0
    prep = json.loads((tmp_path / "run" / "preprocess.json").read_text())
    assert prep["target_mean"] is None and prep["target_std"] is None


def test_standardize_target_applies_to_regression_losses_only(tmp_path):
    config = write_config(tmp_path, data={"source": "iris", "standardize_target": True})
    result = runner.invoke(app, ["validate", str(config)])
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert "data.standardize_target" in message and "regression losses" in message
