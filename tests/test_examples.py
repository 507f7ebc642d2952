"""Every example config trains and reaches the result it is there to show."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from bpcli.config import load_config
from bpcli.training.experiment import setup
from bpcli.training.loop import final_metrics, fit

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@functools.lru_cache(maxsize=8)
def trained(name, seed=None):
    """An example config trained (with another seed, if given); cached: read, don't change it."""
    overrides = [] if seed is None else [f"seed={seed}"]
    experiment = setup(load_config(CONFIGS / f"{name}.yaml", overrides))
    history = fit(experiment)
    return experiment, history, final_metrics(experiment)


def test_every_example_config_has_a_test():
    tested = {
        "xor",
        "moons",
        "spirals",
        "iris",
        "digits",
        "digits_regularized",
        "breast_cancer",
        "linear_regression",
        "sine",
        "diabetes",
    }
    assert {path.stem for path in CONFIGS.glob("*.yaml")} == tested


def test_digits_reaches_95_percent_test_accuracy():
    _, _, metrics = trained("digits")
    assert metrics["test"]["accuracy"] >= 0.95


def test_digits_regularized_beats_digits_on_test_accuracy():
    experiment, history, metrics = trained("digits_regularized")
    _, _, plain = trained("digits")
    assert metrics["test"]["accuracy"] > plain["test"]["accuracy"]
    # what the config shows: per-layer layers with dropout, adamw, warm-up + cosine, keep best
    assert [layer.dropout for layer in experiment.network.layers] == [0.3, 0.1, 0.0]
    assert [r["lr"] for r in history.epochs[:5]] == pytest.approx([0.0006 * e for e in range(1, 6)])
    assert history.restored_best and history.best_epoch < len(history.epochs)
    # not a lucky seed: better on average over three seeds, by more than one test row (1/359)
    regularized = np.mean([trained("digits_regularized", s)[2]["test"]["accuracy"] for s in (1, 2)])
    baseline = np.mean([trained("digits", s)[2]["test"]["accuracy"] for s in (1, 2)])
    assert regularized > baseline + 1 / 359


def test_xor_is_learned_exactly():
    experiment, _, metrics = trained("xor")
    assert metrics["train"]["accuracy"] == 1.0
    assert experiment.network.widths == [2, 2, 1]


@pytest.mark.parametrize(
    "name, minimum", [("moons", 0.95), ("spirals", 0.95), ("iris", 0.9), ("breast_cancer", 0.95)]
)
def test_classification_examples(name, minimum):
    _, _, metrics = trained(name)
    assert metrics["test"]["accuracy"] >= minimum


def test_iris_stops_early_and_restores_the_best_epoch():
    _, history, _ = trained("iris")
    assert history.stopped_early and history.best_epoch < len(history.epochs)


@pytest.mark.parametrize("name, minimum_r2", [("sine", 0.95), ("diabetes", 0.4)])
def test_regression_examples(name, minimum_r2):
    _, _, metrics = trained(name)
    assert metrics["test"]["r2"] >= minimum_r2


def test_linear_regression_matches_least_squares():
    experiment, _, _ = trained("linear_regression")
    train = experiment.data.splits["train"]
    design = np.c_[train.X, np.ones(len(train))]
    solution, *_ = np.linalg.lstsq(design, train.Y, rcond=None)
    layer = experiment.network.layers[0]
    np.testing.assert_allclose(layer.W, solution[:-1], atol=1e-3)
    np.testing.assert_allclose(layer.b, solution[-1], atol=1e-3)
