"""Real users' input files: Excel's BOM-prefixed "CSV UTF-8" everywhere CSV is read, and .npy widths
that must match the model exactly (an extra column only at the training target's position)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import flat, runner, train

from bpcli.commands import app

ROOT = Path(__file__).resolve().parent.parent
IRIS_CSV = ROOT / "datasets" / "iris.csv"
BOM = "\ufeff"


@pytest.fixture(scope="module")
def bom_run(tmp_path_factory) -> Path:
    """iris trained from a copy of its CSV that starts with a UTF-8 byte-order mark."""
    folder = tmp_path_factory.mktemp("bom")
    data = folder / "iris-excel.csv"
    data.write_text(BOM + IRIS_CSV.read_text(encoding="utf-8"), encoding="utf-8")
    config = folder / "iris.yaml"
    config.write_text(f"data: {{source: {data}}}\ntraining: {{epochs: 5}}\n", encoding="utf-8")
    return train(config, folder / "run")


def test_a_bom_prefixed_training_csv_keeps_clean_column_names(bom_run):
    result = runner.invoke(app, ["inspect", str(bom_run), "--json"])
    assert result.exit_code == 0, result.output
    assert BOM not in result.stdout
    plain = runner.invoke(app, ["predict", str(bom_run), str(IRIS_CSV)])
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.splitlines()[0] == "prediction"


def test_predict_reads_a_bom_prefixed_file_and_stdin(bom_run, tmp_path):
    expected = runner.invoke(app, ["predict", str(bom_run), str(IRIS_CSV)]).stdout
    excel = tmp_path / "excel.csv"
    excel.write_text(BOM + IRIS_CSV.read_text(encoding="utf-8"), encoding="utf-8")
    from_file = runner.invoke(app, ["predict", str(bom_run), str(excel)])
    assert from_file.exit_code == 0, from_file.output
    assert from_file.stdout == expected
    from_stdin = runner.invoke(app, ["predict", str(bom_run), "-"], input=excel.read_text())
    assert from_stdin.exit_code == 0, from_stdin.output
    assert from_stdin.stdout == expected


def test_eval_reads_a_bom_prefixed_data_file(iris_run, tmp_path):
    excel = tmp_path / "excel.csv"
    excel.write_text(BOM + IRIS_CSV.read_text(encoding="utf-8"), encoding="utf-8")
    plain = runner.invoke(app, ["eval", str(iris_run), "--data", str(IRIS_CSV), "--json"])
    with_bom = runner.invoke(app, ["eval", str(iris_run), "--data", str(excel), "--json"])
    assert with_bom.exit_code == 0, with_bom.output
    assert with_bom.stdout == plain.stdout.replace(str(IRIS_CSV), str(excel))


# ---------------------------------------------------------------------------- .npy widths


def iris_features() -> np.ndarray:
    return np.loadtxt(IRIS_CSV, delimiter=",", skiprows=1, usecols=range(4))


def test_an_extra_npy_column_is_refused_for_a_csv_trained_model(iris_run, tmp_path):
    wide = tmp_path / "wide.npy"
    np.save(wide, np.c_[iris_features(), np.zeros(150)])
    result = runner.invoke(app, ["predict", str(iris_run), str(wide)])
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert "5 columns, the model expects 4 features" in message
    assert "accepted only by a model trained on an .npy" in message
    assert result.stdout == ""


@pytest.fixture(scope="module")
def npy_run(tmp_path_factory) -> Path:
    """A regression model trained on an .npy whose target is column 1 of 4 (3 features)."""
    folder = tmp_path_factory.mktemp("npy")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, -2.0, 0.5]
    np.save(folder / "train.npy", np.c_[X[:, :1], y, X[:, 1:]])
    config = folder / "c.yaml"
    config.write_text(
        f"data: {{source: {folder / 'train.npy'}, target: 1}}\nloss: mse\ntraining: {{epochs: 2}}\n",
        encoding="utf-8",
    )
    return train(config, folder / "run")


def test_the_npy_target_position_is_dropped_and_said(npy_run, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 3))
    np.save(tmp_path / "features.npy", X)
    np.save(tmp_path / "with_target.npy", np.c_[X[:, :1], np.full(5, 99.0), X[:, 1:]])
    expected = runner.invoke(app, ["predict", str(npy_run), str(tmp_path / "features.npy")])
    assert expected.exit_code == 0, expected.output
    result = runner.invoke(app, ["predict", str(npy_run), str(tmp_path / "with_target.npy")])
    assert result.exit_code == 0, result.output
    assert result.stdout == expected.stdout
    assert "ignoring column 1, the target's column in the training .npy" in flat(result.stderr)


@pytest.mark.parametrize("width", [2, 5])
def test_any_other_npy_width_names_expected_and_found(npy_run, tmp_path, width):
    np.save(tmp_path / "x.npy", np.zeros((3, width)))
    result = runner.invoke(app, ["predict", str(npy_run), str(tmp_path / "x.npy")])
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert f"{width} columns, the model expects 3 features" in message
    assert "or 4 with the target at column 1" in message
