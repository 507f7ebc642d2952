"""Numbers as bpcli writes them: significant digits on the terminal, one round-trip format in CSV."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from helpers import ROOT, runner

from bpcli import api
from bpcli.commands import app
from bpcli.runs.predict import float_cells


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_proba_columns_share_one_format_that_reads_back_exactly(dtype, iris_run, tmp_path):
    run = iris_run
    if dtype == "float64":
        run = tmp_path / "iris64"
        args = ["train", "configs/iris.yaml", "-q", "-o", str(run)]
        assert runner.invoke(app, [*args, "--set", "training.dtype=float64"]).exit_code == 0
    result = runner.invoke(app, ["predict", str(run), str(ROOT / "datasets/iris.csv"), "--proba"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    cells = np.array([row[1:] for row in rows[1:]])
    digits = {"float32": 9, "float64": 17}[dtype]
    X = np.loadtxt(ROOT / "datasets/iris.csv", delimiter=",", skiprows=1, usecols=range(4))
    expected = api.load(run).predict_proba(X)
    assert expected.dtype == np.dtype(dtype)
    assert np.array_equal(cells.astype(dtype), expected)  # exact round trip, every cell
    assert all(
        cell == f"{float(value):.{digits}g}"
        for cell, value in zip(cells.flat, expected.flat, strict=True)
    )


def test_float_cells_writes_small_and_large_values_alike():
    values = np.array([[0.9997967, 6.306502e-13, 1.0]], dtype=np.float32)
    assert float_cells(values).tolist() == [["0.999796689", "6.30650209e-13", "1"]]
    assert [np.float32(cell) for cell in float_cells(values)[0]] == list(values[0])
