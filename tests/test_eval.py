"""bpcli eval: metrics equal the run's summary, per-class scores, --data, --split and --fail-under."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import flat, train
from typer.testing import CliRunner

from bpcli.commands import app
from bpcli.core.metrics import Bar, class_scores, missed_bars, parse_bars
from bpcli.errors import DataError

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
IRIS_CSV = ROOT / "datasets" / "iris.csv"
runner = CliRunner()


@pytest.fixture(scope="module")
def sine_run(tmp_path_factory) -> Path:
    return train(
        CONFIGS / "sine.yaml",
        tmp_path_factory.mktemp("runs") / "sine",
        "training.epochs=5",
        "data.n_samples=200",
    )


def eval_json(*args: str) -> dict:
    result = runner.invoke(app, ["eval", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("run_name", ["iris_run", "sine_run"])
def test_eval_json_matches_the_summary_of_the_test_split(run_name, request):
    run = request.getfixturevalue(run_name)
    report = eval_json(str(run))
    expected = json.loads((run / "summary.json").read_text())["metrics"]["test"]
    assert report["data"] == "test split"
    for metric, value in expected.items():
        assert report["metrics"][metric] == pytest.approx(value, rel=1e-12, abs=1e-15), metric


def test_eval_validation_and_train_splits_match_the_summary(iris_run):
    summary = json.loads((iris_run / "summary.json").read_text())["metrics"]
    for split in ("validation", "train"):
        report = eval_json(str(iris_run), "--split", split)
        assert report["metrics"]["loss"] == pytest.approx(summary[split]["loss"], rel=1e-12)
        assert report["metrics"]["accuracy"] == pytest.approx(summary[split]["accuracy"])


def test_classification_report_is_consistent(iris_run):
    report = eval_json(str(iris_run))
    matrix = np.array(report["confusion_matrix"]["matrix"])
    assert report["confusion_matrix"]["labels"] == ["setosa", "versicolor", "virginica"]
    assert matrix.sum() == report["rows"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(report["metrics"]["accuracy"])
    f1s = [row["f1"] for row in report["per_class"]]
    assert report["metrics"]["macro_f1"] == pytest.approx(np.mean(f1s))
    assert [row["support"] for row in report["per_class"]] == matrix.sum(axis=1).tolist()


def test_regression_report_has_mse_rmse_mae_r2(sine_run):
    metrics = eval_json(str(sine_run))["metrics"]
    assert set(metrics) == {"loss", "mse", "rmse", "mae", "r2"}
    assert metrics["rmse"] == pytest.approx(np.sqrt(metrics["mse"]))
    assert metrics["mse"] == pytest.approx(metrics["loss"], rel=1e-5)  # the loss is MSE


def test_eval_prints_tables_on_stderr_only(iris_run):
    result = runner.invoke(app, ["eval", str(iris_run)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    for text in ("accuracy", "macro_f1", "precision", "confusion matrix", "virginica"):
        assert text in flat(result.stderr)


def test_class_scores_hand_worked():
    # true a: 2 right, 1 predicted b; true b: 1 right; nothing ever predicted c, 1 true c predicted a.
    confusion = np.array([[2, 1, 0], [0, 1, 0], [1, 0, 0]])
    rows, f1s = class_scores(confusion, ["a", "b", "c"])
    a, b, c = rows
    assert (a["precision"], a["recall"]) == pytest.approx((2 / 3, 2 / 3))
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 1)
    assert np.mean(f1s) == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)


def test_eval_on_other_data_through_the_saved_preprocessing(iris_run):
    report = eval_json(str(iris_run), "--data", str(IRIS_CSV))
    assert report["rows"] == 150
    assert report["data"] == str(IRIS_CSV)
    assert report["metrics"]["accuracy"] > 0.8


def test_eval_data_with_reordered_columns_gives_the_same_result(iris_run, tmp_path):
    lines = IRIS_CSV.read_text().splitlines()
    reordered = tmp_path / "reordered.csv"
    reordered.write_text(
        "\n".join(",".join(reversed(line.split(","))) for line in lines) + "\n", encoding="utf-8"
    )
    assert (
        eval_json(str(iris_run), "--data", str(reordered))["metrics"]
        == eval_json(str(iris_run), "--data", str(IRIS_CSV))["metrics"]
    )


def test_unseen_label_is_a_clear_error(iris_run, tmp_path):
    data = tmp_path / "new.csv"
    data.write_text(
        "sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,rose\n"
    )
    result = runner.invoke(app, ["eval", str(iris_run), "--data", str(data)])
    assert result.exit_code == 2, result.output
    assert "'rose' was not seen in training" in flat(result.stderr)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sepal_length,sepal_width,petal_length,species\n1,2,3,setosa\n", "missing petal_width"),
        ("sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n", "no target column"),
    ],
)
def test_wrong_columns_are_a_clear_error(iris_run, tmp_path, text, message):
    data = tmp_path / "bad.csv"
    data.write_text(text)
    result = runner.invoke(app, ["eval", str(iris_run), "--data", str(data)])
    assert result.exit_code == 2, result.output
    assert message in flat(result.stderr)


def test_fail_under_passes_and_fails(iris_run):
    ok = runner.invoke(app, ["eval", str(iris_run), "--fail-under", "accuracy=0.5"])
    assert ok.exit_code == 0, ok.output
    missed = runner.invoke(app, ["eval", str(iris_run), "--fail-under", "accuracy=1.01"])
    assert missed.exit_code == 1, missed.output
    assert "accuracy" in flat(missed.stderr) and "below the minimum 1.01" in flat(missed.stderr)


def test_fail_under_is_an_upper_bound_for_loss(iris_run):
    loss = eval_json(str(iris_run))["metrics"]["loss"]
    high = runner.invoke(app, ["eval", str(iris_run), "--fail-under", f"loss={loss * 2}"])
    assert high.exit_code == 0, high.output
    low = runner.invoke(app, ["eval", str(iris_run), "--fail-under", f"loss={loss / 2}", "--json"])
    assert low.exit_code == 1, low.output
    assert "above the maximum" in flat(low.stderr)
    assert json.loads(low.stdout)["passed"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-under", "accuracy"], "not METRIC=NUMBER"),
        (["--fail-under", "accuracy=high"], "not METRIC=NUMBER"),
        (["--fail-under", "r2=0.5"], "'r2' is not reported"),
        (["--split", "holdout"], "not a split"),
        (["--split", "test", "--data", "iris"], "either --split or --data"),
        (["--data", "nowhere.csv"], "file not found"),
        (["--data", "data.parquet"], "neither a built-in dataset"),
    ],
)
def test_usage_errors_exit_2(iris_run, args, message):
    result = runner.invoke(app, ["eval", str(iris_run), *args])
    assert result.exit_code == 2, result.output
    assert message in flat(result.stderr)


def test_missing_run_folder_and_empty_split(tmp_path):
    result = runner.invoke(app, ["eval", str(tmp_path / "nothing")])
    assert result.exit_code == 2, result.output
    assert "run folder not found" in flat(result.stderr)
    xor = train(CONFIGS / "xor.yaml", tmp_path / "xor", "training.epochs=2")
    result = runner.invoke(app, ["eval", str(xor)])
    assert result.exit_code == 2, result.output
    assert "no test rows" in flat(result.stderr)
    assert runner.invoke(app, ["eval", str(xor), "--split", "train"]).exit_code == 0


def test_changed_data_is_detected(tmp_path):
    data = tmp_path / "iris.csv"
    data.write_text(IRIS_CSV.read_text())
    run = train(CONFIGS / "iris.yaml", tmp_path / "run", f"data.source={data}", "training.epochs=2")
    lines = data.read_text().splitlines()
    data.write_text("\n".join(lines[:1] + lines[1:][::-1][:120]) + "\n")
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 2, result.output
    assert "changed since training" in flat(result.stderr)


def test_bars_unit():
    assert parse_bars(["accuracy=0.9", " loss = 0.5"]) == [Bar("accuracy", 0.9), Bar("loss", 0.5)]
    assert missed_bars([Bar("accuracy", 0.9)], {"accuracy": 0.9}) == []
    assert missed_bars([Bar("mae", 1.0)], {"mae": 1.5}) == ["mae 1.5 is above the maximum 1"]
    nan = {"r2": float("nan")}  # NaN never meets a bar
    assert missed_bars([Bar("r2", 0.0)], nan) == ["r2 nan is below the minimum 0"]
    with pytest.raises(DataError):
        parse_bars(["accuracy=nan"])
