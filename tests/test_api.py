"""The public Python API (bpcli.api, re-exported by `bpcli`), used without the command line."""

from __future__ import annotations

import ast
import io
import json
from pathlib import Path

import numpy as np
import pytest

import bpcli
from bpcli.errors import ConfigError, RunError

ROOT = Path(__file__).resolve().parent.parent
IRIS = ROOT / "configs" / "iris.yaml"
COMMANDS = ROOT / "bpcli" / "commands"


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "iris"
    return bpcli.train(IRIS, ["training.epochs=30"], out=out)


def test_train_returns_the_saved_run(iris):
    assert iris.task == "classification" and iris.name == "iris"
    assert iris.summary["epochs_run"] == 30 and len(iris.history) == 30
    assert iris.summary["metrics"]["test"]["accuracy"] > 0.9


def test_predict_and_evaluate_agree_with_a_reload(iris):
    X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    assert list(iris.predict(X)) == ["setosa", "virginica"]
    proba = iris.predict_proba(X)
    assert proba.shape == (2, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    again = bpcli.load(iris.path)
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    report = again.evaluate("test")
    assert report.origin == "test split" and report.rows == 30
    assert report.metrics["accuracy"] == pytest.approx(iris.summary["metrics"]["test"]["accuracy"])


def test_a_config_mapping_trains_with_overrides(tmp_path):
    document = {"data": {"source": "moons", "n_samples": 120}, "model": {"hidden": [8]}}
    run = bpcli.train(document, ["training.epochs=2"], out=tmp_path / "m")
    assert run.name == "run" and run.summary["epochs_run"] == 2
    assert run.config.model.hidden == [8]
    with pytest.raises(ConfigError, match=r"optimizer\.lrr"):
        bpcli.train(document, ["optimizer.lrr=0.1"], out=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_resume_trains_a_finished_run_longer(tmp_path):
    run = bpcli.train(IRIS, ["training.epochs=3"], out=tmp_path / "r")
    longer = bpcli.resume(run.path, ["training.epochs=5"])
    assert longer.summary["epochs_run"] == 5 and [r["epoch"] for r in longer.history] == [
        1,
        2,
        3,
        4,
        5,
    ]


def test_predict_csv_writes_labels_for_a_csv(iris, tmp_path):
    rows = tmp_path / "flowers.csv"
    rows.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n")
    out = io.StringIO()
    assert bpcli.predict_csv(iris, rows, out) == 1
    assert out.getvalue().splitlines() == ["prediction", "setosa"]


def test_gradcheck_and_explain_and_inspect(iris):
    result = bpcli.gradcheck(IRIS, samples=4)
    assert result.passed and [c.name for c in result.checks] == ["W1", "b1", "W2", "b2"]
    assert json.loads(json.dumps(result.as_dict()))["passed"] is True
    shapes = bpcli.explain(iris.path, batch=2).shapes()
    assert shapes["Z1"] == (2, 16) and shapes["dW2"] == (16, 3)
    assert bpcli.inspect(iris.path)["parameters"] == iris.network.parameter_count()


def test_validate_loads_the_data_without_training():
    experiment = bpcli.validate(IRIS)
    assert experiment.network.widths == [4, 16, 3]
    assert len(experiment.data.splits["train"]) == 105


def test_load_refuses_what_is_not_a_finished_run(tmp_path):
    with pytest.raises(RunError, match="not found"):
        bpcli.load(tmp_path / "nothing")
    with pytest.raises(RunError, match="not a run folder"):
        bpcli.load(tmp_path)


def command_modules() -> list[Path]:
    return [p for p in COMMANDS.glob("*.py") if p.stem not in ("__init__", "app", "render")]


@pytest.mark.parametrize("path", command_modules(), ids=lambda p: p.stem)
def test_every_command_goes_through_the_api(path):
    """Each command's function calls bpcli.api; it reaches training and runs only through it."""
    tree = ast.parse(path.read_text())
    calls = {
        f"{node.func.value.id}.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
    }
    assert any(call.startswith("api.") for call in calls), path.name
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bpcli.")
    }
    reached_around = {
        m for m in imported if m.startswith(("bpcli.training.loop", "bpcli.runs.session"))
    }
    assert not reached_around, f"{path.name} imports {reached_around}"
