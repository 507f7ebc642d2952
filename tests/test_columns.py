"""Real tabular columns: choosing features (data.features / data.drop), one-hot categorical columns,
predict with extra columns and --keep, and stratified splits."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from helpers import flat, runner

from bpcli import api
from bpcli.commands import app
from bpcli.data.splits import split_rows

COLORS = ("red", "green", "blue")


def shop_csv(tmp_path, rows=240, name="shop.csv"):
    """id, color, x1, note, x2, size, bought: bought depends on the colour and on x1 + x2."""
    rng = np.random.default_rng(0)
    lines = [["id", "color", "x1", "note", "x2", "size", "bought"]]
    for i in range(rows):
        color = COLORS[i % 3]
        x1, x2 = rng.standard_normal(2)
        score = x1 + x2 + {"red": 2.0, "green": 0.0, "blue": -2.0}[color]
        note = ["fine", "late", "gift"][i % 3]
        size = "SML"[i % 3 - (i % 2)]
        lines.append([f"id{i}", color, f"{x1:.4f}", note, f"{x2:.4f}", size, "yn"[int(score < 0)]])
    path = tmp_path / name
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(lines)
    return path


def shop_config(path, **data):
    return {
        "seed": 1,
        "data": {"source": str(path), "categorical": ["color"], "drop": ["id", "note", "size"]}
        | data,
        "model": {"hidden": [8]},
        "optimizer": {"name": "adam", "lr": 0.02},
        "training": {"epochs": 40, "batch_size": 16},
    }


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    path = shop_csv(folder)
    return api.train(shop_config(path), out=folder / "run"), folder


def predict(run_dir, source, *args, input=None):
    return runner.invoke(app, ["predict", str(run_dir), str(source), *args], input=input)


# ---------------------------------------------------------------------------- choosing columns


def test_chosen_features_and_categories_are_saved_with_the_run(shop_run):
    run, _ = shop_run
    saved = json.loads((run.path / "preprocess.json").read_text())
    assert saved["feature_names"] == ["color", "x1", "x2"]
    assert saved["categories"] == {"color": ["blue", "green", "red"]}
    assert run.preprocess.input_names() == ["x1", "x2", "color=blue", "color=green", "color=red"]
    assert run.network.widths[0] == 5
    assert len(saved["mean"]) == 2  # only the numeric features are standardised
    assert run.evaluate("test").metrics["accuracy"] > 0.9  # the colour is used


def test_features_keeps_the_listed_columns_in_their_order(tmp_path):
    path = shop_csv(tmp_path)
    config = shop_config(path, features=["x2", "x1"], categorical=None, drop=None)
    experiment = api.validate(config)
    assert experiment.data.preprocess.feature_names == ["x2", "x1"]
    assert experiment.network.widths[0] == 2


@pytest.mark.parametrize(
    "data, phrases",
    [
        ({"features": ["x1"], "drop": ["id"]}, ["data.drop", "not both"]),
        (
            {"features": ["x1", "x9"], "drop": None},
            ["data.features: no column 'x9'", "columns: id"],
        ),
        ({"drop": ["colour"]}, ["data.drop: no column 'colour'"]),
        ({"features": ["x1", "bought"], "drop": None}, ["'bought' is the target column"]),
        ({"categorical": ["id"]}, ["data.categorical: 'id' is not a feature column"]),
        ({"drop": ["id"], "categorical": None}, ["feature 'color' is 'red'", "data.categorical"]),
        ({"weight": "wt"}, ["data.weight: no column 'wt'"]),
        ({"unknown": "skip"}, ["data.unknown", "'error' or 'ignore'"]),
    ],
)
def test_column_mistakes_are_exit_2_naming_the_column(tmp_path, write_config, data, phrases):
    config = shop_config(shop_csv(tmp_path), **data)
    result = runner.invoke(app, ["validate", str(write_config(config))])
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    for phrase in phrases:
        assert phrase in message, message
    assert "Traceback" not in result.output


def test_columns_need_a_csv(tmp_path, write_config):
    np.save(tmp_path / "data.npy", np.arange(12.0).reshape(4, 3))
    config = {"data": {"source": str(tmp_path / "data.npy"), "features": ["x0"]}}
    result = runner.invoke(app, ["validate", str(write_config(config))])
    assert result.exit_code == 2 and "name CSV columns" in flat(result.stderr)


def test_generators_have_no_columns(write_config):
    result = runner.invoke(
        app, ["validate", str(write_config({"data": {"source": "moons", "drop": ["x0"]}}))]
    )
    assert result.exit_code == 2 and "not a setting of the 'moons' generator" in flat(result.stderr)


# ---------------------------------------------------------------------------- predict


def test_predict_ignores_extra_columns_and_passes_kept_ones_through(shop_run, tmp_path):
    run, folder = shop_run
    new = shop_csv(tmp_path, rows=9, name="new.csv")
    result = predict(run.path, new, "--keep", "id", "--keep", "note", "--proba")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["id", "note", "prediction", "proba_n", "proba_y"]
    assert [row[0] for row in rows[1:]] == [f"id{i}" for i in range(9)]
    assert [row[1] for row in rows[1:]] == ["fine", "late", "gift"] * 3
    plain = predict(run.path, new)
    assert [row[-1] for row in csv.reader(io.StringIO(plain.stdout))][1:] == [
        row[2] for row in rows[1:]
    ]


def test_predict_applies_the_saved_one_hot_encoding(shop_run, tmp_path):
    run, _ = shop_run
    (tmp_path / "two.csv").write_text("x2,color,x1\n0.5,green,-1.0\n0.1,red,0.3\n")
    result = predict(run.path, tmp_path / "two.csv", "--proba")
    assert result.exit_code == 0, result.output
    got = np.array([row[1:] for row in csv.reader(io.StringIO(result.stdout))][1:], float)
    prep = run.preprocess
    X = (np.array([[-1.0, 0.5], [0.3, 0.1]]) - prep.mean) / prep.std
    inputs = np.c_[X, [[0, 1, 0], [0, 0, 1]]].astype(np.float32)  # blue, green, red
    np.testing.assert_allclose(got, run.network.predict(inputs), rtol=1e-6)
    by_api = run.predict_proba(np.array([[-1.0, 0.5]]), {"color": np.array(["green"])})
    np.testing.assert_allclose(by_api[0], got[0], rtol=1e-6)


def test_an_unseen_category_is_exit_2_naming_column_and_value(shop_run, tmp_path):
    run, _ = shop_run
    (tmp_path / "odd.csv").write_text("color,x1,x2\nred,0,0\npurple,1,1\n")
    result = predict(run.path, tmp_path / "odd.csv")
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert "column 'color': category 'purple' was not seen in training" in message
    assert "known: blue, green, red" in message and result.stdout == ""


def test_unknown_ignore_encodes_an_unseen_category_as_zeros(tmp_path):
    run = api.train(shop_config(shop_csv(tmp_path), unknown="ignore"), out=tmp_path / "run")
    (tmp_path / "odd.csv").write_text("color,x1,x2\npurple,1,1\n")
    result = predict(run.path, tmp_path / "odd.csv", "--proba")
    assert result.exit_code == 0, result.output
    got = np.array(list(csv.reader(io.StringIO(result.stdout)))[1][1:], float)
    prep = run.preprocess
    X = (np.array([[1.0, 1.0]]) - prep.mean) / prep.std
    expected = run.network.predict(np.c_[X, [[0, 0, 0]]].astype(np.float32))
    np.testing.assert_allclose(got, expected[0], rtol=1e-6)


def test_eval_applies_the_encoding_and_column_choice(shop_run, tmp_path):
    run, folder = shop_run
    other = shop_csv(tmp_path, rows=60, name="other.csv")
    result = runner.invoke(app, ["eval", str(run.path), "--data", str(other), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"] == 60 and report["metrics"]["accuracy"] > 0.85
    assert api.load(run.path).evaluate(source=str(other)).metrics == report["metrics"]


def test_predict_keep_mistakes(shop_run, tmp_path):
    run, _ = shop_run
    new = shop_csv(tmp_path, rows=3, name="new.csv")
    result = predict(run.path, new, "--keep", "order_id")
    assert result.exit_code == 2 and "--keep: no column 'order_id'" in flat(result.stderr)
    result = predict(run.path, new, "--keep", "prediction")
    assert result.exit_code == 2, result.output
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    result = predict(run.path, tmp_path / "x.npy")
    assert result.exit_code == 2 and "categorical columns (color)" in flat(result.stderr)


def test_categorical_auto_takes_the_text_columns(tmp_path):
    config = shop_config(shop_csv(tmp_path), categorical="auto", drop=["id"])
    prep = api.validate(config).data.preprocess
    assert list(prep.categories) == ["color", "note", "size"]
    assert prep.categories["size"] == ["L", "M", "S"]


def test_an_empty_category_cell_names_its_line(tmp_path, write_config):
    path = shop_csv(tmp_path)
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace(",red,", ",,").replace(",green,", ",,").replace(",blue,", ",,")
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["validate", str(write_config(shop_config(path)))])
    assert result.exit_code == 2 and "line 6: categorical column 'color' is empty" in flat(
        result.stderr
    )


# ---------------------------------------------------------------------------- stratified splits


def test_stratified_splits_keep_the_class_proportions():
    labels = np.repeat(["a", "b", "c"], [600, 300, 100])
    rows = split_rows(1000, 0.1, 0.2, np.random.default_rng(0), labels)
    for name, share in (("train", 0.7), ("validation", 0.1), ("test", 0.2)):
        counts = [np.sum(labels[rows[name]] == c) for c in "abc"]
        assert counts == [round(600 * share), round(300 * share), round(100 * share)], name
    every = np.concatenate(list(rows.values()))
    assert sorted(every.tolist()) == list(range(1000))


def test_plain_splits_can_miss_a_rare_class_stratified_ones_cannot():
    labels = np.array(["common"] * 95 + ["rare"] * 5)
    missed = 0
    for seed in range(20):
        plain = split_rows(100, 0.1, 0.1, np.random.default_rng(seed))
        missed += "rare" not in labels[plain["validation"]]
        strat = split_rows(100, 0.1, 0.1, np.random.default_rng(seed), labels)
        assert all("rare" in labels[strat[name]] for name in strat)
    assert missed > 0


def test_stratify_is_the_default_for_classification_only(write_config):
    result = runner.invoke(app, ["validate", str(write_config({"data": {"source": "iris"}}))])
    assert "stratify: true" in result.stdout
    config = {"data": {"source": "diabetes"}, "loss": "mse"}
    result = runner.invoke(app, ["validate", str(write_config(config))])
    assert "stratify: false" in result.stdout
    config["data"]["stratify"] = True
    result = runner.invoke(app, ["validate", str(write_config(config))])
    assert result.exit_code == 2 and "data.stratify" in flat(result.stderr)


def test_a_class_too_small_for_the_splits_is_exit_2_naming_it(tmp_path, write_config):
    path = tmp_path / "small.csv"
    path.write_text("x,y\n" + "".join(f"{i},{'a' if i < 30 else 'tiny'}\n" for i in range(32)))
    result = runner.invoke(app, ["validate", str(write_config({"data": {"source": str(path)}}))])
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    assert "class 'tiny' has only 2 row(s)" in message and "data.stratify: false" in message
    config = {"data": {"source": str(path), "stratify": False}}
    assert runner.invoke(app, ["validate", str(write_config(config))]).exit_code == 0


@pytest.mark.parametrize(
    "change, phrase",
    [
        (
            {"categories": {"color": ["red", "blue"]}},
            "categories of 'color' must be distinct, sorted",
        ),
        ({"categories": {"colour": ["red"]}}, "'categories' names 'colour'"),
        ({"unknown": "skip"}, "'unknown' must be error or ignore"),
        ({"class_weights": [1.0, -2.0]}, "'class_weights' must hold 2 positive numbers"),
        ({"mean": [0.0, 0.0, 0.0]}, "'mean' must hold 2 finite numbers"),
    ],
)
def test_a_damaged_preprocess_json_is_refused(shop_run, tmp_path, change, phrase):
    run, _ = shop_run
    copy = tmp_path / "run"
    copy.mkdir()
    for item in run.path.iterdir():
        if item.is_file():
            (copy / item.name).write_bytes(item.read_bytes())
    document = json.loads((copy / "preprocess.json").read_text())
    (copy / "preprocess.json").write_text(json.dumps({**document, **change}))
    result = runner.invoke(app, ["inspect", str(copy)])
    assert result.exit_code == 2, result.output
    assert phrase in flat(result.stderr)


def test_a_run_whose_splits_cannot_be_rebuilt_is_refused(tmp_path):
    # a run made before splits were stratified reads back as stratified now; without
    # standardization its statistics cannot tell, the checkpoint's hash of the splits can
    config = {"data": {"source": "iris", "standardize": False, "stratify": False}}
    run = api.train(config | {"training": {"epochs": 2}}, out=tmp_path / "r")
    assert run.evaluate("test").rows == 30
    saved = (run.path / "config.yaml").read_text()
    (run.path / "config.yaml").write_text(saved.replace("stratify: false", "stratify: true"))
    result = runner.invoke(app, ["eval", str(run.path), "--split", "test"])
    assert result.exit_code == 2, result.output
    assert "splits of" in flat(result.stderr) and "cannot be reproduced" in flat(result.stderr)


def test_a_run_with_layers_and_categories_resumes(tmp_path):
    config = shop_config(shop_csv(tmp_path))
    config["model"] = {"layers": [{"width": 8, "activation": "tanh", "dropout": 0.1}]}
    config["training"]["epochs"] = 2
    run = api.train(config, out=tmp_path / "run")
    resumed = api.resume(run.path, ["training.epochs=4"])
    assert resumed.summary["epochs_run"] == 4 and resumed.network.widths == [5, 8, 2]


def test_export_of_a_categorical_model_takes_the_raw_cells_and_agrees_with_bpcli(
    shop_run, tmp_path
):
    pytest.importorskip("onnx", reason="export needs the [onnx] extra")
    pytest.importorskip("onnxruntime", reason="export --check needs onnxruntime")
    run, _ = shop_run
    result = runner.invoke(
        app, ["export", str(run.path), "-o", str(tmp_path / "m.onnx"), "--check"]
    )
    assert result.exit_code == 0, result.output
    assert "PASS: onnxruntime vs bpcli" in flat(result.stderr)
