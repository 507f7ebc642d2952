"""Class weights (training.class_weight) and sample weights (data.weight): the weighted loss against
PyTorch's definition written out in NumPy, its gradient, the balanced weights, what eval reports, and
the point of it all: a better recall of the minority class."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from helpers import ROOT, flat, runner

from bpcli import api
from bpcli.commands import app
from bpcli.core.activations import ACTIVATIONS
from bpcli.core.gradcheck import check_gradients
from bpcli.core.losses import LOSSES, CrossEntropy
from bpcli.core.network import MLP


def softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def torch_weighted_cross_entropy(Z, y, class_weight):
    """torch.nn.CrossEntropyLoss(weight=w)(Z, y) with reduction='mean', as its docs define it:
    l_i = −w_{y_i} log softmax(z_i)_{y_i},  L = Σ_i l_i / Σ_i w_{y_i}."""
    log_p = np.log(softmax(Z))[np.arange(len(y)), y]
    return float(np.sum(-class_weight[y] * log_p) / np.sum(class_weight[y]))


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    return rng.standard_normal((9, 4)) * 3, rng.integers(0, 4, 9), np.array([0.5, 2.0, 1.0, 4.0])


def test_class_weighted_cross_entropy_is_torchs(logits):
    Z, y, w = logits
    loss = LOSSES["cross_entropy"]
    value = loss.value(y, Z, softmax(Z), w[y])
    assert value == pytest.approx(torch_weighted_cross_entropy(Z, y, w), rel=1e-12)
    # equal weights give the plain mean, whatever their size
    assert loss.value(y, Z, softmax(Z), np.full(9, 7.0)) == pytest.approx(
        loss.value(y, Z, softmax(Z)), rel=1e-12
    )


def test_weighted_cross_entropy_delta_is_the_weighted_softmax_gradient(logits):
    Z, y, w = logits
    out = np.empty_like(Z)
    LOSSES["cross_entropy"].output_delta(y, Z, softmax(Z), ACTIVATIONS["softmax"], out, w[y])
    onehot = np.eye(4)[y]
    expected = w[y][:, None] * (softmax(Z) - onehot) / np.sum(w[y])
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_class_and_sample_weights_multiply(logits):
    Z, y, w = logits
    samples = np.linspace(0.5, 2.0, 9)
    r = w[y] * samples
    log_p = np.log(softmax(Z))[np.arange(9), y]
    expected = np.sum(-r * log_p) / np.sum(r)
    assert LOSSES["cross_entropy"].value(y, Z, softmax(Z), r) == pytest.approx(expected)


def test_weighted_binary_cross_entropy_is_the_weighted_mean():
    rng = np.random.default_rng(1)
    Z, Y = rng.standard_normal((7, 1)), rng.integers(0, 2, (7, 1)).astype(float)
    r = rng.uniform(0.1, 3.0, 7)
    p = 1 / (1 + np.exp(-Z))
    per_row = -(Y * np.log(p) + (1 - Y) * np.log(1 - p))[:, 0]
    assert LOSSES["binary_cross_entropy"].value(Y, Z, p, r) == pytest.approx(
        np.sum(r * per_row) / np.sum(r), rel=1e-12
    )


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_gradcheck_passes_with_row_weights(loss_name):
    loss = LOSSES[loss_name]
    rng = np.random.default_rng(2)
    network = MLP.build(
        [4, 5, 3], "tanh", loss.output_activation or "identity", "xavier_normal", rng, np.float64
    )
    X = rng.standard_normal((8, 4))
    if loss.task == "classification":
        Y = rng.integers(0, 3, 8)
    elif loss.task == "binary":
        Y = rng.integers(0, 2, (8, 3)).astype(float)
    else:
        Y = rng.standard_normal((8, 3))
    weights = rng.uniform(0.2, 5.0, 8)
    for result in check_gradients(network, X, Y, loss, 0.01, weights=weights):
        assert result.checked > 0 and result.passed, (result.name, result.max_rel_error)
        assert result.max_rel_error < 1e-6


def test_gradcheck_catches_a_delta_that_ignores_the_weights():
    class Unweighted(CrossEntropy):
        def output_delta(self, Y, Z, Yhat, activation, out, weights=None):
            return super().output_delta(Y, Z, Yhat, activation, out)

    rng = np.random.default_rng(3)
    network = MLP.build([4, 3], "tanh", "softmax", "xavier_normal", rng, np.float64)
    X, Y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    results = check_gradients(network, X, Y, Unweighted(), weights=rng.uniform(0.2, 5.0, 8))
    assert not any(result.passed for result in results)


# ---------------------------------------------------------------------------- through a run


def iris(**training):
    return {
        "seed": 0,
        "data": {"source": "iris"},
        "model": {"hidden": [8]},
        "optimizer": {"name": "adam", "lr": 0.01},
        "training": {"epochs": 3, **training},
    }


def test_balanced_weights_are_scikit_learns_on_the_training_split(tmp_path):
    run = api.train(iris(class_weight="balanced"), out=tmp_path / "r")
    train = run.splits().splits["train"]
    labels = np.asarray(run.preprocess.classes)[train.Y]
    counts = np.array([np.sum(labels == c) for c in run.preprocess.classes])
    # sklearn.utils.class_weight.compute_class_weight("balanced"): n_samples / (n_classes · count)
    expected = len(labels) / (3 * counts)
    np.testing.assert_allclose(run.preprocess.class_weights, expected)
    np.testing.assert_allclose(train.weights, expected[train.Y], rtol=1e-6)


def test_the_reported_loss_is_the_weighted_loss(tmp_path):
    run = api.train(iris(class_weight={"setosa": 5.0, "virginica": 0.5}), out=tmp_path / "r")
    assert run.preprocess.class_weights == [5.0, 1.0, 0.5]
    test = run.data("test")
    Yhat = run.network.predict(test.X).astype(np.float64)
    w = np.array([5.0, 1.0, 0.5])[test.Y]
    log_p = np.log(Yhat[np.arange(len(test.Y)), test.Y])
    expected = np.sum(-w * log_p) / np.sum(w)
    assert run.summary["metrics"]["test"]["loss"] == pytest.approx(expected, rel=1e-5)
    assert run.evaluate("test").metrics["loss"] == pytest.approx(expected, rel=1e-5)
    result = runner.invoke(app, ["eval", str(run.path), "--data", "iris", "--json"])
    assert result.exit_code == 0, result.output


def test_class_weight_mistakes_are_exit_2(write_config):
    cases = [
        ({"class_weight": {"daisy": 2.0}}, "iris", "'daisy' is not a class"),
        ({"class_weight": {"setosa": 0}}, "iris", "weight of 'setosa' must be a number > 0"),
        ({"class_weight": "balanced"}, "diabetes", "not 'mse'"),
    ]
    for training, source, phrase in cases:
        config = iris(**training)
        config["data"]["source"] = source
        if source == "diabetes":
            config["loss"] = "mse"
        result = runner.invoke(app, ["validate", str(write_config(config))])
        assert result.exit_code == 2, result.output
        assert phrase in flat(result.stderr), result.stderr


def subset_files(tmp_path):
    """A 10:1 subset of breast_cancer (all 357 benign rows, 36 malignant) and the other 176
    malignant rows, on which accuracy is the recall of the minority class."""
    rows = list(csv.reader(open(ROOT / "datasets" / "breast_cancer.csv", newline="")))
    header, body = rows[0], rows[1:]
    benign = [row for row in body if row[-1] == "benign"]
    malignant = [row for row in body if row[-1] == "malignant"]
    for name, chosen in (("subset.csv", benign + malignant[:36]), ("rest.csv", malignant[36:])):
        with open(tmp_path / name, "w", newline="") as handle:
            csv.writer(handle).writerows([header, *chosen])
    return tmp_path / "subset.csv", tmp_path / "rest.csv"


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
def test_balanced_class_weights_raise_the_minority_recall(tmp_path, loss):
    subset, rest = subset_files(tmp_path)
    recall = {}
    for weighting in (None, "balanced"):
        config = {
            "seed": 0,
            "data": {"source": str(subset)},
            "model": {"hidden": [16]},
            "loss": loss,
            "training": {"epochs": 20, "class_weight": weighting},
        }
        run = api.train(config, out=tmp_path / str(weighting))
        recall[weighting] = run.evaluate(source=str(rest)).metrics["accuracy"]
    assert recall["balanced"] > recall[None] + 0.05, recall


# ---------------------------------------------------------------------------- sample weights


def weighted_csv(tmp_path, weights):
    rows = [["x1", "x2", "w", "y"]]
    rng = np.random.default_rng(0)
    for i in range(60):
        x = rng.standard_normal(2)
        rows.append([f"{x[0]:.4f}", f"{x[1]:.4f}", weights(i), "ab"[int(x[0] + x[1] > 0)]])
    path = tmp_path / "weighted.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_sample_weights_weigh_the_loss_and_are_not_a_feature(tmp_path):
    path = weighted_csv(tmp_path, lambda i: str(1 + i % 3))
    config = {"data": {"source": str(path), "weight": "w"}, "model": {"hidden": [4]}}
    config["training"] = {"epochs": 2}
    run = api.train(config, out=tmp_path / "r")
    assert run.preprocess.feature_names == ["x1", "x2"] and run.preprocess.weight_name == "w"
    test = run.data("test")
    Yhat = run.network.predict(test.X).astype(np.float64)
    samples = 1 + run.splits().splits["test"].rows % 3
    np.testing.assert_array_equal(test.weights, samples)
    log_p = np.log(Yhat[np.arange(len(test.Y)), test.Y])
    expected = np.sum(-samples * log_p) / np.sum(samples)
    assert run.summary["metrics"]["test"]["loss"] == pytest.approx(expected, rel=1e-5)
    # predict needs no weight column; eval --data needs it, as training weighed by it
    features = tmp_path / "features.csv"
    features.write_text("x2,x1\n0.5,1.0\n")
    assert runner.invoke(app, ["predict", str(run.path), str(features)]).exit_code == 0
    result = runner.invoke(app, ["eval", str(run.path), "--data", str(features)])
    assert result.exit_code == 2 and "no target column" in flat(result.stderr)
    unweighted = tmp_path / "unweighted.csv"
    unweighted.write_text("x1,x2,y\n1,2,a\n")
    result = runner.invoke(app, ["eval", str(run.path), "--data", str(unweighted)])
    assert result.exit_code == 2 and "no weight column 'w'" in flat(result.stderr)


@pytest.mark.parametrize(
    "weights, phrase",
    [(lambda i: "-1", "line 2: weight 'w' is '-1'"), (lambda i: "0", "every weight in 'w' is 0")],
)
def test_bad_sample_weights_are_exit_2(tmp_path, write_config, weights, phrase):
    path = weighted_csv(tmp_path, weights)
    result = runner.invoke(
        app, ["validate", str(write_config({"data": {"source": str(path), "weight": "w"}}))]
    )
    assert result.exit_code == 2, result.output
    assert phrase in flat(result.stderr)
