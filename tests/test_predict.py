"""bpcli predict: labels in the original space, --proba, files and stdin, chunking, clear errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import flat, train
from typer.testing import CliRunner

from bpcli.commands import app
from bpcli.runs.predict import csv_chunks, write_predictions
from bpcli.runs.run import Run

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
IRIS_CSV = ROOT / "datasets" / "iris.csv"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
runner = CliRunner()


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def predict(*args: str, input: str | None = None):
    return runner.invoke(app, ["predict", *args], input=input)


def test_string_labels_round_trip(iris_run):
    result = predict(str(iris_run), str(IRIS_CSV))  # the species column is still there: ignored
    assert result.exit_code == 0, result.output
    rows = read_csv(result.stdout)
    truth = [row["species"] for row in read_csv(IRIS_CSV.read_text())]
    assert list(rows[0]) == ["prediction"]
    predicted = [row["prediction"] for row in rows]
    assert set(predicted) <= {"setosa", "versicolor", "virginica"}
    accuracy = np.mean([p == t for p, t in zip(predicted, truth, strict=True)])
    evaluated = runner.invoke(app, ["eval", str(iris_run), "--data", str(IRIS_CSV), "--json"])
    assert accuracy == pytest.approx(json.loads(evaluated.stdout)["metrics"]["accuracy"])


def test_predictions_equal_the_network_and_decode(iris_run):
    loaded = Run.load(iris_run)
    table = np.loadtxt(IRIS_CSV, delimiter=",", skiprows=1, usecols=range(4))
    expected = loaded.preprocess.decode(
        loaded.network.predict(loaded.preprocess.transform(table, np.float32))
    )
    rows = read_csv(predict(str(iris_run), str(IRIS_CSV)).stdout)
    assert [row["prediction"] for row in rows] == list(expected)


def test_proba_columns_sum_to_one(iris_run):
    result = predict(str(iris_run), str(IRIS_CSV), "--proba")
    assert result.exit_code == 0, result.output
    rows = read_csv(result.stdout)
    columns = ["proba_setosa", "proba_versicolor", "proba_virginica"]
    assert list(rows[0]) == ["prediction", *columns]
    probabilities = np.array([[float(row[c]) for c in columns] for row in rows])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    labels = np.array(["setosa", "versicolor", "virginica"])[probabilities.argmax(axis=1)]
    assert list(labels) == [row["prediction"] for row in rows]


def test_stdin_without_target_column(iris_run):
    lines = IRIS_CSV.read_text().splitlines()
    text = "\n".join(",".join(line.split(",")[:4]) for line in lines[:6]) + "\n"
    result = predict(str(iris_run), "-", input=text)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["prediction"] + ["setosa"] * 5
    assert predict(str(iris_run), input=text).stdout == result.stdout  # INPUT defaults to -


def test_reordered_columns_are_matched_by_name(iris_run):
    text = "petal_width,petal_length,sepal_width,sepal_length\n2.3,5.2,3.0,6.7\n0.2,1.4,3.5,5.1\n"
    result = predict(str(iris_run), "-", input=text)
    assert result.stdout.splitlines() == ["prediction", "virginica", "setosa"]


def test_numpy_inputs(iris_run, tmp_path):
    table = np.loadtxt(IRIS_CSV, delimiter=",", skiprows=1, usecols=range(4))
    expected = predict(str(iris_run), str(IRIS_CSV)).stdout
    np.save(tmp_path / "features.npy", table)
    np.savez(tmp_path / "features.npz", X=table)
    for name in ("features.npy", "features.npz"):
        result = predict(str(iris_run), str(tmp_path / name))
        assert result.exit_code == 0, result.output
        assert result.stdout == expected, name
    np.save(tmp_path / "narrow.npy", table[:, :2])
    result = predict(str(iris_run), str(tmp_path / "narrow.npy"))
    assert result.exit_code == 2
    assert "2 columns, the model expects 4 features" in flat(result.stderr)


def test_output_file_is_written_atomically(iris_run, tmp_path):
    out = tmp_path / "predictions.csv"
    result = predict(str(iris_run), str(IRIS_CSV), "--proba", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote 150 predictions" in result.stderr
    assert out.read_text() == predict(str(iris_run), str(IRIS_CSV), "--proba").stdout
    # A bad row far down (after several chunks) leaves no file and no temporary behind.
    bad = tmp_path / "bad.csv"
    good_rows = IRIS_CSV.read_text().splitlines()[1:]
    bad.write_text(
        IRIS_CSV.read_text().splitlines()[0]
        + "\n"
        + "\n".join(good_rows * 40)
        + "\n5.1,oops,1.4,0.2,setosa\n"
    )
    target = tmp_path / "never.csv"
    result = predict(str(iris_run), str(bad), "--output", str(target))
    assert result.exit_code == 2, result.output
    assert "line 6002: feature 'sepal_width' is 'oops'" in flat(result.stderr)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_chunked_reading_gives_the_same_predictions(iris_run):
    loaded = Run.load(iris_run)
    text = IRIS_CSV.read_text()
    outputs = []
    for chunk_rows in (7, 4096):
        chunks = list(csv_chunks(io.StringIO(text), loaded.preprocess, "test", chunk_rows))
        assert len(chunks) == (22 if chunk_rows == 7 else 1)
        out = io.StringIO()
        count = write_predictions(loaded, iter(chunks), out, True)
        assert count == 150
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sepal_length,sepal_width,petal_length\n1,2,3\n", "missing petal_width"),
        (
            "sepal_length,sepal_width,petal_length,petal_width,colour\n1,2,3,4,red\n",
            "unexpected colour",
        ),
        ("a,b,c,d\n1,2,3,4\n", "expected the 4 feature columns sepal_length, sepal_width"),
        ("sepal_length,sepal_width,petal_length,petal_width\n1,2,3\n", "line 2: 3 fields"),
        ("sepal_length,sepal_width,petal_length,petal_width\n1,2,,4\n", "'petal_length' is ''"),
        ("sepal_length,sepal_width,petal_length,petal_width\n1,2,nan,4\n", "not a finite number"),
        ("", "empty input"),
    ],
)
def test_bad_input_is_a_clear_error(iris_run, text, message):
    result = predict(str(iris_run), "-", input=text)
    assert result.exit_code == 2, result.output
    assert message in flat(result.stderr)
    assert result.stdout == ""  # a bad first chunk writes nothing
    assert "Traceback" not in result.output


def test_header_only_gives_header_only(iris_run):
    result = predict(str(iris_run), "-", input=",".join(FEATURES) + "\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "prediction\n"


def test_other_usage_errors(iris_run, tmp_path):
    for args, message in [
        ([str(tmp_path / "missing.csv")], "input file not found"),
        ([str(tmp_path / "data.txt")], "not a .csv, .npy or .npz"),
    ]:
        result = predict(str(iris_run), *args)
        assert result.exit_code == 2, result.output
        assert message in flat(result.stderr)
    result = predict(str(tmp_path), "-", input="a\n1\n")
    assert result.exit_code == 2
    assert "is not a run folder" in flat(result.stderr)


def test_regression_and_binary_and_integer_labels(tmp_path):
    sine = train(CONFIGS / "sine.yaml", tmp_path / "sine", "training.epochs=2", "data.n_samples=50")
    result = predict(str(sine), "-", input="x0,y\n0.5,0.4\n-1,0\n")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "prediction" and len(lines) == 3
    assert all(np.isfinite(float(v)) for v in lines[1:])
    result = predict(str(sine), "--proba", input="x0\n0.5\n")
    assert result.exit_code == 2 and "--proba applies to classifiers" in flat(result.stderr)

    moons = train(CONFIGS / "moons.yaml", tmp_path / "moons", "training.epochs=2")
    lines = predict(str(moons), "--proba", input="x0,x1\n0,1\n1,-0.5\n").stdout.splitlines()
    assert lines[0] == "prediction,proba_0,proba_1"
    assert {line.split(",")[0] for line in lines[1:]} <= {"0", "1"}

    cancer = train(CONFIGS / "breast_cancer.yaml", tmp_path / "cancer", "training.epochs=2")
    csv_path = ROOT / "datasets" / "breast_cancer.csv"
    rows = read_csv(predict(str(cancer), str(csv_path), "--proba").stdout)
    assert list(rows[0]) == ["prediction", "proba_benign", "proba_malignant"]
    for row in rows:
        assert float(row["proba_benign"]) + float(row["proba_malignant"]) == pytest.approx(1.0)
        expected = "malignant" if float(row["proba_malignant"]) > 0.5 else "benign"
        assert row["prediction"] == expected


def test_early_closed_pipe_ends_quietly(iris_run, tmp_path):
    """`bpcli predict RUN - | head`: the reader leaves early; no traceback, exit 0 (documented)."""
    lines = IRIS_CSV.read_text().splitlines()
    big = tmp_path / "big.csv"
    big.write_text(lines[0] + "\n" + "\n".join(lines[1:] * 400) + "\n")  # 60,000 rows
    script = (
        f"set -o pipefail; {sys.executable} -m bpcli predict {iris_run} - < {big} | head -n 3; "
        'echo "status ${PIPESTATUS[0]}" >&2'
    )
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == ["prediction", "setosa", "setosa"]
    assert "status 0" in done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
