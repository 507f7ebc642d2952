"""bpcli export: ONNX models that onnxruntime runs to bpcli's own predictions, and clear errors."""

from __future__ import annotations

import csv
import io
import json
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import CONFIGS, flat, runner, train

import bpcli
from bpcli.commands import app
from bpcli.core.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from bpcli.errors import BpcliError
from bpcli.onnx_check import compare, relative_error
from bpcli.onnx_export import ONNX_ACTIVATIONS, Graph
from bpcli.runs.run import Run

EXAMPLES = sorted(CONFIGS.glob("*.yaml"))
EPS32 = np.finfo(np.float32).eps
QUICK = ("training.epochs=3",)


@pytest.fixture
def ort():
    """onnx and onnxruntime, or a skip that says which is missing."""
    pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[onnx]')")
    return pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")


def export(*args: str):
    return runner.invoke(app, ["export", *args])


def held_out(run_dir: Path) -> np.ndarray:
    """The raw feature rows of the run's own test split (xor has none: its training rows)."""
    splits = Run.load(run_dir).splits()
    rows = splits.splits["test"].rows
    return splits.table.X[rows if len(rows) else splits.splits["train"].rows]


def bpcli_predict(run_dir: Path, X: np.ndarray, tmp_path: Path) -> list[dict]:
    """`bpcli predict --proba` (plain predict for regression) of rows X, as CSV records."""
    np.save(tmp_path / "rows.npy", X)
    proba = [] if Run.load(run_dir).task == "regression" else ["--proba"]
    result = runner.invoke(app, ["predict", str(run_dir), str(tmp_path / "rows.npy"), *proba])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def run_model(ort, path: Path, X: np.ndarray, dtype=np.float32) -> dict:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"X": X.astype(dtype)})
    return dict(zip([o.name for o in session.get_outputs()], outputs, strict=True))


def assert_close(actual, expected, eps=EPS32):
    """1e-5 relative; values of a column within 10 float ulps of its scale count as rounding."""
    expected = np.asarray(expected, np.float64)
    atol = 10 * eps * max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=1e-5, atol=atol)


def assert_matches_predict(ort, run_dir: Path, model: Path, tmp_path: Path, dtype=np.float32):
    """onnxruntime's outputs equal `bpcli predict --proba` on the run's test split."""
    X = held_out(run_dir)
    rows = bpcli_predict(run_dir, X, tmp_path)
    got = run_model(ort, model, X, dtype)
    prep = Run.load(run_dir).preprocess
    if prep.task == "regression":
        expected = [
            [float(v) for k, v in row.items() if k.startswith("prediction")] for row in rows
        ]
        assert got["prediction"].shape == (len(X), prep.outputs)
        assert_close(got["prediction"], expected)
        return got
    expected = [[float(row[f"proba_{c}"]) for c in prep.classes] for row in rows]
    assert got["probabilities"].shape == (len(X), len(prep.classes))
    assert_close(got["probabilities"], expected)
    assert [str(label) for label in got["label"]] == [row["prediction"] for row in rows]
    return got


# ---------------------------------------------------------------------------- every example config


@pytest.mark.parametrize("config", EXAMPLES, ids=[c.stem for c in EXAMPLES])
def test_every_example_config_exports_what_predict_prints(ort, config, tmp_path):
    import onnx

    run = train(config, tmp_path / "run", *QUICK)
    result = export(str(run))
    assert result.exit_code == 0, result.output
    model = run / "model.onnx"
    assert result.stdout == f"{model}\n"
    onnx.checker.check_model(onnx.load(model), full_check=True)
    assert_matches_predict(ort, run, model, tmp_path)


def test_check_of_a_regression_model_says_nothing_about_labels(ort, tmp_path):
    run = train(CONFIGS / "sine.yaml", tmp_path / "run", "training.epochs=1")
    result = export(str(run), "--check", "--json")
    assert result.exit_code == 0, result.output
    assert "PASS: onnxruntime vs bpcli on the test split, 100 rows" in flat(result.stderr)
    assert "label" not in result.stderr
    assert json.loads(result.stdout)["check"]["label_mismatches"] is None


def test_xor_has_no_test_split_so_check_uses_the_training_rows(ort, tmp_path):
    run = train(CONFIGS / "xor.yaml", tmp_path / "run", *QUICK)
    result = export(str(run), "--check")
    assert result.exit_code == 0, result.output
    assert "PASS: onnxruntime vs bpcli on the train split, 4 rows" in flat(result.output)


def test_label_types_string_and_integer(ort, iris_run, tmp_path):
    import onnx

    iris = bpcli.export(iris_run, tmp_path / "iris.onnx").path
    digits = train(CONFIGS / "digits.yaml", tmp_path / "digits", "training.epochs=1")
    bpcli.export(digits)
    for path, element in [
        (iris, onnx.TensorProto.STRING),
        (digits / "model.onnx", onnx.TensorProto.INT64),
    ]:
        label = [o for o in onnx.load(path).graph.output if o.name == "label"][0]
        assert label.type.tensor_type.elem_type == element
    domains = {
        path: {o.domain for o in onnx.load(path).opset_import}
        for path in [iris, digits / "model.onnx"]
    }
    assert domains == {iris: {"", "ai.onnx.ml"}, digits / "model.onnx": {""}}
    species = run_model(ort, iris, held_out(iris_run))["label"]
    assert set(species.tolist()) <= {"setosa", "versicolor", "virginica"}
    digit = run_model(ort, digits / "model.onnx", held_out(digits))["label"]
    assert digit.dtype == np.int64 and set(digit.tolist()) <= set(range(10))


def test_metadata_names_version_config_classes_features_task(ort, iris_run, tmp_path):
    path = bpcli.export(iris_run, tmp_path).path
    assert path == tmp_path / "model.onnx"  # -o a folder: model.onnx inside it
    meta = ort.InferenceSession(str(path)).get_modelmeta()
    props = meta.custom_metadata_map
    summary = json.loads((iris_run / "summary.json").read_text())
    assert props["bpcli_version"] == bpcli.__version__
    assert props["config_hash"] == summary["config_hash"]
    assert json.loads(props["classes"]) == ["setosa", "versicolor", "virginica"]
    assert json.loads(props["feature_names"]) == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert props["task"] == "classification" and props["dtype"] == "float32"
    assert meta.producer_name == "bpcli"


# ---------------------------------------------------------------------------- the graph's parts


def test_every_activation_has_an_onnx_form():
    assert set(ONNX_ACTIVATIONS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_each_activation_computes_what_bpcli_computes(ort, name):
    from onnx import TensorProto, helper

    graph = Graph("float32")
    out = ONNX_ACTIVATIONS[name](graph, "Z")
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            name,
            [helper.make_tensor_value_info("Z", TensorProto.FLOAT, ["N", 5])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", 5])],
            initializer=graph.constants,
        ),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    extremes = [[-1e4, -100.0, -89.0, 89.0, 1e4]]  # exp overflows float32 beyond 88.7
    Z = np.r_[rng.normal(0, 3, (40, 5)), np.linspace(-60, 60, 20).reshape(4, 5), extremes]
    Z = Z.astype(np.float32)
    expected = ACTIVATIONS[name].forward(Z, np.empty_like(Z))
    got = session.run(None, {"Z": Z})[0]
    assert_close(got, expected)


def test_gelu_is_the_tanh_approximation_not_the_erf_form(ort):
    from math import erf, sqrt

    z = np.float32(1.5)
    gelu = ACTIVATIONS["gelu"].forward(np.array([[z]]), np.empty((1, 1), np.float32))[0, 0]
    erf_form = z / 2 * (1 + erf(z / sqrt(2)))
    assert abs(gelu - erf_form) > 1e-4  # the two forms differ here, and bpcli trains the tanh one
    test_each_activation_computes_what_bpcli_computes(ort, "gelu")


@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_a_network_with_each_hidden_activation(ort, activation, tmp_path):
    run = train(
        CONFIGS / "iris.yaml",
        tmp_path / "run",
        "training.epochs=2",
        f"model.activation={activation}",
        "model.hidden=[8, 6]",
    )
    result = export(str(run), "--check")
    assert result.exit_code == 0, result.output
    assert_matches_predict(ort, run, run / "model.onnx", tmp_path)


def test_binary_model_gives_two_probability_columns_in_class_order(ort, tmp_path):
    run = train(CONFIGS / "breast_cancer.yaml", tmp_path / "run", *QUICK)
    bpcli.export(run)
    got = assert_matches_predict(ort, run, run / "model.onnx", tmp_path)
    p = Run.load(run).outputs(held_out(run))[:, 0]
    assert_close(got["probabilities"][:, 1], p)
    np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1.0, atol=1e-6)
    classes = np.array(Run.load(run).preprocess.classes)
    assert list(got["label"]) == list(classes[(p > 0.5).astype(int)])


def test_no_hidden_layer(ort, tmp_path):
    run = train(CONFIGS / "moons.yaml", tmp_path / "run", *QUICK, "model.hidden=[]")
    result = export(str(run), "--check")
    assert result.exit_code == 0, result.output
    assert_matches_predict(ort, run, run / "model.onnx", tmp_path)


def test_without_standardization(ort, tmp_path):
    run = train(CONFIGS / "iris.yaml", tmp_path / "run", *QUICK, "data.standardize=false")
    bpcli.export(run)
    assert_matches_predict(ort, run, run / "model.onnx", tmp_path)


def test_multi_output_regression(ort, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    np.savez(tmp_path / "two.npz", X=X, y=np.c_[X @ [1.0, -2.0, 0.5], 100 + 3 * X[:, 0]])
    config = tmp_path / "two.yaml"
    config.write_text(yaml.safe_dump({"data": {"source": "two.npz"}, "loss": "mse"}))
    run = train(config, tmp_path / "run", *QUICK)
    bpcli.export(run)
    got = assert_matches_predict(ort, run, run / "model.onnx", tmp_path)
    assert got["prediction"].shape[1] == 2


def test_an_activation_without_an_onnx_form_is_refused(ort, iris_run, tmp_path, monkeypatch):
    monkeypatch.delitem(ONNX_ACTIVATIONS, "relu")
    result = export(str(iris_run), "-o", str(tmp_path / "m.onnx"))
    assert result.exit_code == 2
    assert "layer 1: activation 'relu' has no ONNX form" in flat(result.output)
    assert not (tmp_path / "m.onnx").exists()


def test_relative_error_is_relative_above_the_rounding_floor():
    eps = float(EPS32)  # floor s = 10 eps / 1e-5 = 0.119 for a column of scale <= 1
    assert relative_error(np.array([1.00002]), np.array([1.0]), eps) == pytest.approx(2e-5)
    assert relative_error(np.array([0.5, 0.5]), np.array([0.5, 0.5]), eps) == 0.0
    tiny = relative_error(np.array([[1e-9 + 1e-6]]), np.array([[1e-9]]), eps)
    assert tiny == pytest.approx(1e-6 / (10 * eps / 1e-5)) and tiny < 1e-5
    assert relative_error(np.array([[1e-9 + 2e-6]]), np.array([[1e-9]]), eps) > 1e-5
    # a column of scale 200: values under 200 * 0.119 are compared as 23.8
    values = np.array([[200.0], [0.1]])
    error = relative_error(values + [[0], [1e-4]], values, eps)
    assert error == pytest.approx(1e-4 / (200 * 10 * eps / 1e-5))
    assert relative_error(np.array([[np.nan]]), np.array([[1.0]]), eps) != 0.0  # NaN never passes


# ---------------------------------------------------------------------------- dtype, opset, output


def test_float64_run_exports_as_float32_with_a_note_or_as_float64(ort, tmp_path):
    run = train(CONFIGS / "iris.yaml", tmp_path / "run", *QUICK, "training.dtype=float64")
    result = export(str(run))
    assert result.exit_code == 0, result.output
    assert "note: the run computes in float64; the model computes in float32" in flat(result.stderr)
    session = ort.InferenceSession(str(run / "model.onnx"))
    assert session.get_inputs()[0].type == "tensor(float)"
    assert_matches_predict(ort, run, run / "model.onnx", tmp_path)

    result = export(str(run), "--dtype", "float64", "-o", str(tmp_path / "f64.onnx"), "--check")
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr
    X = held_out(run)
    got = run_model(ort, tmp_path / "f64.onnx", X, np.float64)["probabilities"]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, Run.load(run).predict_proba(X), rtol=1e-12, atol=1e-15)


def test_opset_choice_and_limits(ort, iris_run, tmp_path):
    import onnx

    result = export(str(iris_run), "--opset", "13", "-o", str(tmp_path / "m.onnx"), "--check")
    assert result.exit_code == 0, result.output
    model = onnx.load(tmp_path / "m.onnx")
    assert {o.domain: o.version for o in model.opset_import}[""] == 13
    with pytest.raises(BpcliError, match="--dtype float16 is not available"):
        bpcli.export(iris_run, tmp_path / "bad.onnx", dtype="float16")
    for bad in ("12", "999"):
        result = export(str(iris_run), "--opset", bad, "-o", str(tmp_path / "bad.onnx"))
        assert result.exit_code == 2
        assert f"--opset {bad} is not available" in flat(result.output)
        assert "choose 13.." in flat(result.output)
    assert not (tmp_path / "bad.onnx").exists()
    result = export(str(iris_run), "--format", "tflite")
    assert result.exit_code == 2 and "tflite" in result.output


def test_json_result_and_atomic_write(ort, iris_run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = export(str(iris_run), "-o", str(out / "iris.onnx"), "--check", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["path"] == str(out / "iris.onnx") and document["opset"] == 17
    assert document["check"]["passed"] and document["check"]["split"] == "test"
    assert document["check"]["rows"] == 30 and document["check"]["label_mismatches"] == 0
    assert sorted(p.name for p in out.iterdir()) == ["iris.onnx"]  # no temporary file left


def test_output_into_a_missing_folder_is_an_error(ort, iris_run, tmp_path):
    result = export(str(iris_run), "-o", str(tmp_path / "nowhere" / "m.onnx"))
    assert result.exit_code == 2
    assert f"folder {tmp_path / 'nowhere'} does not exist" in flat(result.output)


def test_new_weights_in_the_folder_remove_an_old_model(ort, tmp_path):
    run = train(CONFIGS / "iris.yaml", tmp_path / "run", *QUICK)
    bpcli.export(run)
    bpcli.resume(run, ["training.epochs=4"])  # trains one more epoch: new weights
    assert not (run / "model.onnx").exists()
    bpcli.export(run)
    args = ["train", str(CONFIGS / "iris.yaml"), "--out", str(run), "--force", "-q"]
    assert runner.invoke(app, [*args, "--set", "training.epochs=1"]).exit_code == 0
    assert not (run / "model.onnx").exists()


# ---------------------------------------------------------------------------- --check fails


def test_check_fails_with_exit_1_when_the_graph_is_wrong(ort, iris_run, tmp_path, monkeypatch):
    # relu written as LeakyRelu with slope 0.5: a plausible exporter bug
    monkeypatch.setitem(ONNX_ACTIVATIONS, "relu", lambda g, Z: g.op("LeakyRelu", Z, alpha=0.5))
    result = export(str(iris_run), "-o", str(tmp_path / "wrong.onnx"), "--check")
    assert result.exit_code == 1, result.output
    assert "FAIL: onnxruntime vs bpcli on the test split, 30 rows" in flat(result.output)


def test_check_sees_a_small_change_of_one_weight(ort, iris_run, tmp_path):
    import onnx
    from onnx import numpy_helper

    path = bpcli.export(iris_run, tmp_path / "m.onnx", check=True).path
    assert compare(Run.load(iris_run), path).passed
    model = onnx.load(path)
    W1 = next(t for t in model.graph.initializer if t.name == "W1")
    changed = numpy_helper.to_array(W1).copy()
    changed[0, 0] *= 1.001
    W1.CopyFrom(numpy_helper.from_array(changed, "W1"))
    onnx.save(model, path)
    comparison = compare(Run.load(iris_run), path)
    assert not comparison.passed and comparison.max_rel_error > 1e-5


def test_check_sees_wrong_labels_with_right_probabilities(ort, iris_run, tmp_path):
    import onnx

    path = bpcli.export(iris_run, tmp_path / "m.onnx").path
    model = onnx.load(path)
    encoder = next(n for n in model.graph.node if n.op_type == "LabelEncoder")
    values = next(a for a in encoder.attribute if a.name == "values_strings")
    values.strings[0], values.strings[1] = values.strings[1], values.strings[0]
    onnx.save(model, path)
    comparison = compare(Run.load(iris_run), path)
    assert comparison.max_rel_error <= 1e-5 and comparison.label_mismatches > 0
    assert not comparison.passed


def test_check_refuses_the_model_of_another_kind_of_run(ort, iris_run, tmp_path):
    sine = train(CONFIGS / "sine.yaml", tmp_path / "sine", "training.epochs=1")
    path = bpcli.export(sine).path
    with pytest.raises(BpcliError, match="outputs are \\['prediction'\\]"):
        compare(Run.load(iris_run), path)


# ---------------------------------------------------------------------------- bad runs, no extra


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda w: w.unlink(), "weights .npz file not found"),
        (lambda w: w.write_bytes(b"PK\x03\x04 not a zip"), "not a readable weights .npz"),
        (
            lambda w: np.savez(w, **{**np.load(w), "W1": np.zeros((3, 16), np.float32)}),
            "'W1' has shape (3, 16), the network needs (4, 16)",
        ),
    ],
    ids=["missing", "corrupt", "wrong shape"],
)
def test_bad_weights_are_exit_2_with_a_message(ort, damage, message, tmp_path):
    run = train(CONFIGS / "iris.yaml", tmp_path / "run", "training.epochs=1")
    damage(run / "weights.npz")
    result = export(str(run))
    assert result.exit_code == 2
    assert message in flat(result.output) and "Traceback" not in result.output
    assert not (run / "model.onnx").exists()


def test_interrupted_run_says_how_to_resume(ort, tmp_path):
    class InterruptAfterOneEpoch(bpcli.Listener):
        def on_epoch(self, record):
            if record["epoch"] == 1:
                signal.raise_signal(signal.SIGINT)  # as Ctrl-C: training stops at the next batch

    with pytest.raises(BpcliError):
        bpcli.train(CONFIGS / "iris.yaml", out=tmp_path / "run", listener=InterruptAfterOneEpoch())
    assert not (tmp_path / "run" / "weights.npz").exists()
    result = export(str(tmp_path / "run"))
    assert result.exit_code == 2
    output = flat(result.output)
    assert "training did not finish, so the run has no final weights" in output
    assert f"bpcli train --resume {tmp_path / 'run'}" in output


def test_without_onnx_exit_2_says_what_to_install(iris_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    result = export(str(iris_run))
    assert result.exit_code == 2
    assert 'bpcli export needs onnx: pip install "bpcli[onnx]"' in flat(result.output)


def test_check_without_onnxruntime_says_what_to_install(iris_run, monkeypatch, tmp_path):
    pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[onnx]')")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = export(str(iris_run), "-o", str(tmp_path / "m.onnx"), "--check")
    assert result.exit_code == 2
    assert "--check needs onnxruntime: pip install onnxruntime" in flat(result.output)
    assert not (tmp_path / "m.onnx").exists()


# ---------------------------------------------------------------------------- chosen columns, categories

COLORS = ("red", "green", "blue")


def shop_csv(path: Path, rows: int = 150, colors=COLORS) -> Path:
    """id, color, x1, x2, size, w, bought: bought depends on the colour, the size and x1 + x2;
    w is a sample weight, id and note are not features."""
    rng = np.random.default_rng(0)
    lines = [["id", "color", "x1", "x2", "size", "w", "bought"]]
    for i in range(rows):
        color, size = colors[i % len(colors)], "SML"[(i // 3) % 3]
        x1, x2 = rng.normal(size=2)
        score = x1 - x2 + {"red": 2.0, "green": 0.0, "blue": -2.0}.get(color, 0.0) + (size == "S")
        weight = 1 + i % 4
        lines.append(
            [f"o{i}", color, f"{x1:.4f}", f"{x2 * 10:.3f}", size, weight, "yn"[int(score < 0)]]
        )
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(lines)
    return path


def shop_run(tmp_path: Path, name: str = "run", training: dict | None = None, **data) -> Run:
    """A run on shop.csv (trained for a few epochs) with these data (and training) settings."""
    source = shop_csv(tmp_path / "shop.csv")
    config = {
        "seed": 1,
        "data": {"source": str(source), "target": "bought", "drop": ["id", "w"]} | data,
        "model": {"hidden": [8]},
        "training": {"epochs": 5} | (training or {}),
    }
    return bpcli.train(config, out=tmp_path / name)


def csv_rows(path: Path, prep) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A CSV's rows as Run.predict takes them: numeric features X and categorical cells."""
    with open(path, newline="") as handle:
        records = list(csv.DictReader(handle))
    X = np.array([[float(r[name]) for name in prep.numeric_names] for r in records])
    return X.reshape(len(records), -1), {
        c: np.array([r[c] for r in records], dtype=object) for c in prep.categories
    }


def onnx_outputs(ort, path: Path, X: np.ndarray, categorical: dict) -> dict:
    """The model's outputs for raw rows: `X` the numeric features, `X_categorical` the cells of the
    categorical features side by side (in the order of `categorical`)."""
    feeds = {"X": X.astype(np.float32)} if X.shape[1] else {}
    if categorical:
        feeds["X_categorical"] = np.stack(list(categorical.values()), axis=1)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))


def assert_matches_run(ort, run: Run, path: Path, X: np.ndarray, categorical: dict) -> dict:
    """onnxruntime's outputs equal Run.predict_proba and Run.predict for the same raw rows."""
    got = onnx_outputs(ort, path, X, categorical)
    assert_close(got["probabilities"], run.predict_proba(X, categorical))
    assert got["label"].tolist() == run.predict(X, categorical).tolist()
    return got


def test_categorical_model_takes_numbers_in_X_and_category_text_in_X_categorical(ort, tmp_path):
    import onnx

    run = shop_run(tmp_path, categorical=["color", "size"], unknown="ignore")
    result = export(str(run.path), "--check")
    assert result.exit_code == 0, result.output
    assert "PASS: onnxruntime vs bpcli on the test split, 30 rows" in flat(result.stderr)
    path = run.path / "model.onnx"
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inputs = {i.name: i.type.tensor_type for i in model.graph.input}
    assert inputs["X"].elem_type == onnx.TensorProto.FLOAT
    assert inputs["X_categorical"].elem_type == onnx.TensorProto.STRING
    assert [d.dim_value for d in inputs["X_categorical"].shape.dim] == [0, 2]  # (N, 2)
    props = {p.key: p.value for p in model.metadata_props}
    props |= {k: json.loads(props[k]) for k in ("feature_names", "inputs", "categories")}
    assert props["unknown_category"] == "ignore"
    assert props["feature_names"] == ["color", "x1", "x2", "size"]  # the CSV's order
    assert props["inputs"] == {"X": ["x1", "x2"], "X_categorical": ["color", "size"]}
    assert props["categories"] == {"color": ["blue", "green", "red"], "size": ["L", "M", "S"]}
    # every row of the file, and rows with a colour and a size training never saw: all-zero blocks
    X, categorical = csv_rows(tmp_path / "shop.csv", run.preprocess)
    categorical["color"][:5] = "purple"
    categorical["size"][3:8] = "XL"
    assert_matches_run(ort, run, path, X, categorical)


def test_categorical_model_agrees_with_bpcli_predict_on_a_csv(ort, tmp_path):
    run = shop_run(tmp_path, categorical="auto")
    bpcli.export(run)
    result = runner.invoke(app, ["predict", str(run.path), str(tmp_path / "shop.csv"), "--proba"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    X, categorical = csv_rows(tmp_path / "shop.csv", run.preprocess)
    assert list(categorical) == ["color", "size"]
    got = onnx_outputs(ort, run.path / "model.onnx", X, categorical)
    expected = [[float(row[f"proba_{c}"]) for c in ("n", "y")] for row in rows]
    assert_close(got["probabilities"], expected)
    assert got["label"].tolist() == [row["prediction"] for row in rows]


def test_unknown_error_makes_onnxruntime_fail_on_an_unseen_category(ort, tmp_path):
    run = shop_run(tmp_path, categorical=["color"], drop=["id", "w", "size"])  # unknown: error
    path = bpcli.export(run, check=True).path
    X, categorical = csv_rows(tmp_path / "shop.csv", run.preprocess)
    assert_matches_run(ort, run, path, X, categorical)
    categorical["color"][7] = "purple"
    with pytest.raises(Exception, match="Unknown Category"):
        onnx_outputs(ort, path, X, categorical)
    with pytest.raises(BpcliError, match="category 'purple' was not seen in training"):
        run.predict(X, categorical)


def test_a_model_of_categories_only_has_no_numeric_input(ort, tmp_path):
    import onnx

    run = shop_run(tmp_path, features=["size", "color"], drop=None, categorical="auto")
    path = bpcli.export(run, check=True, dtype="float64").path
    assert [i.name for i in onnx.load(path).graph.input] == ["X_categorical"]
    X, categorical = csv_rows(tmp_path / "shop.csv", run.preprocess)
    assert X.shape[1] == 0 and list(categorical) == ["size", "color"]  # data.features' order
    got = onnx_outputs(ort, path, X, categorical)
    assert got["probabilities"].dtype == np.float64
    np.testing.assert_allclose(got["probabilities"], run.predict_proba(X, categorical), rtol=1e-6)


@pytest.mark.parametrize(
    "columns, order",
    [
        ({"features": ["x2", "x1"], "drop": None}, ["x2", "x1"]),
        ({"drop": ["id", "w", "color", "size"]}, ["x1", "x2"]),
    ],
    ids=["features", "drop"],
)
def test_chosen_columns_are_the_input_in_their_saved_order(ort, tmp_path, columns, order):
    import onnx

    run = shop_run(tmp_path, **columns)
    path = bpcli.export(run, check=True).path
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(meta["feature_names"]) == order
    assert json.loads(meta["inputs"]) == {"X": order}
    [features] = onnx.load(path).graph.input
    assert features.name == "X" and features.type.tensor_type.shape.dim[1].dim_value == 2
    with open(tmp_path / "shop.csv", newline="") as handle:
        records = list(csv.DictReader(handle))
    X = np.array([[float(r[name]) for name in order] for r in records])
    assert_matches_run(ort, run, path, X, {})
    swapped = onnx_outputs(ort, path, X[:, ::-1], {})["probabilities"]
    assert not np.allclose(swapped, run.predict_proba(X))  # the order is the model's, not any


# ---------------------------------------------------------------------------- what does not change the graph


def graph_ops(path: Path) -> list[str]:
    import onnx

    return [node.op_type for node in onnx.load(path).graph.node]


def test_layers_with_their_own_activations_and_dropout(ort, tmp_path):
    layers = (
        "[{width: 12, activation: gelu, dropout: 0.5}, {width: 6, activation: elu, dropout: 0.2}]"
    )
    run = train(
        CONFIGS / "iris.yaml",
        tmp_path / "run",
        *QUICK,
        "model.hidden=null",
        "model.activation=null",
        f"model.layers={layers}",
    )
    result = export(str(run), "--check")
    assert result.exit_code == 0, result.output
    ops = graph_ops(run / "model.onnx")
    assert "Dropout" not in ops and "Elu" in ops and "Tanh" in ops  # dropout: identity at inference
    assert_matches_predict(ort, run, run / "model.onnx", tmp_path)


def test_class_and_sample_weights_export_and_check_and_leave_the_graph_alone(ort, tmp_path):
    plain = shop_run(tmp_path, name="plain", categorical=["color", "size"])
    balanced = shop_run(
        tmp_path,
        name="balanced",
        training={"class_weight": "balanced"},
        categorical=["color", "size"],
    )
    sampled = shop_run(
        tmp_path, name="sampled", categorical=["color", "size"], weight="w", drop=["id"]
    )
    assert sampled.preprocess.weight_name == "w"
    ops = []
    for run in (plain, balanced, sampled):
        result = export(str(run.path), "--check")
        assert result.exit_code == 0, result.output
        ops.append(graph_ops(run.path / "model.onnx"))
    assert ops[0] == ops[1] == ops[2]
    X, categorical = csv_rows(tmp_path / "shop.csv", sampled.preprocess)
    assert "w" not in sampled.preprocess.feature_names
    assert_matches_run(ort, sampled, sampled.path / "model.onnx", X, categorical)
