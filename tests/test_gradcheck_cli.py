"""bpcli gradcheck: passes on every example config and on a trained run, fails on a wrong derivative."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import flat
from typer.testing import CliRunner

from bpcli.api import coupled_weight_decay
from bpcli.commands import app
from bpcli.config import validate
from bpcli.core.activations import ACTIVATIONS

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
runner = CliRunner()


def gradcheck_json(*args: str, code: int = 0) -> dict:
    result = runner.invoke(app, ["gradcheck", *args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_example_config_passes(config):
    report = gradcheck_json(str(config))
    assert report["passed"] is True
    assert all(t["checked"] > 0 for t in report["tensors"])
    names = [t["name"] for t in report["tensors"]]
    assert names[:2] == ["W1", "b1"] and len(names) % 2 == 0


def test_table_and_verdict_on_stderr():
    result = runner.invoke(app, ["gradcheck", str(ROOT / "configs" / "moons.yaml")])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    text = flat(result.stderr)
    for expected in (
        "tensor",
        "rel err",
        "noise",
        "W3",
        "2×16",
        "PASS: every gradient within 1e-06",
    ):
        assert expected in text


def _wrong_tanh_backward(dA, Z, A, out):
    np.multiply(dA, 1.0 - A, out=out)  # the bug: 1 - A instead of 1 - A²
    return out


def test_injected_wrong_derivative_fails(monkeypatch):
    wrong = dataclasses.replace(ACTIVATIONS["tanh"], backward=_wrong_tanh_backward)
    monkeypatch.setitem(ACTIVATIONS, "tanh", wrong)
    config = ROOT / "configs" / "moons.yaml"  # tanh, tanh, softmax
    result = runner.invoke(app, ["gradcheck", str(config)])
    assert result.exit_code == 1, result.output
    verdict = flat(result.stderr)
    assert "FAIL: W1, b1, W2, b2 exceed relative error 1e-06 and their noise level" in verdict
    report = gradcheck_json(str(config), code=1)
    status = {t["name"]: t["passed"] for t in report["tensors"]}
    # The output layer's gradient does not go through tanh': it still passes.
    assert status == {"W1": False, "b1": False, "W2": False, "b2": False, "W3": True, "b3": True}
    assert report["passed"] is False


def test_wrong_derivative_in_one_place_names_that_tensor(monkeypatch, write_yaml):
    """relu' wrong only for negative inputs (slope 0.5 there): caught in the hidden layer."""

    def leaky_backward(dA, Z, A, out):
        np.multiply(dA, np.where(Z > 0, 1.0, 0.5), out=out)
        return out

    monkeypatch.setitem(
        ACTIVATIONS, "relu", dataclasses.replace(ACTIVATIONS["relu"], backward=leaky_backward)
    )
    config = write_yaml(
        {
            "data": {"source": "sine", "n_samples": 40},
            "model": {"hidden": [6], "activation": "relu"},
            "loss": "mse",
        }
    )
    report = gradcheck_json(str(config), code=1)
    status = {t["name"]: t["passed"] for t in report["tensors"]}
    assert status == {"W1": False, "b1": False, "W2": True, "b2": True}


@pytest.fixture
def write_yaml(tmp_path):
    import yaml

    def write(document: dict) -> Path:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path

    return write


def test_kinks_are_reported_as_skipped(write_yaml):
    # relu + mse: a big step crosses kinks; entries whose step crosses one are skipped, not judged.
    config = write_yaml(
        {
            "data": {"source": "sine", "n_samples": 60},
            "model": {"hidden": [16], "activation": "relu"},
            "loss": "mse",
        }
    )
    report = gradcheck_json(str(config), "--eps", "0.2", "--samples", "32")
    skipped = sum(t["skipped"] for t in report["tensors"])
    assert skipped > 0
    assert report["passed"] is True
    for tensor in report["tensors"]:
        assert tensor["checked"] + tensor["skipped"] == int(np.prod(tensor["shape"]))
    # With a step so big that every bias step crosses a kink, b1 is reported as not verified.
    result = runner.invoke(app, ["gradcheck", str(config), "--eps", "0.5", "--samples", "32"])
    assert result.exit_code == 0, result.output
    assert "not verified: b1" in flat(result.stderr)


def test_trained_run_passes(tmp_path):
    run = tmp_path / "run"
    trained = runner.invoke(
        app,
        ["train", str(ROOT / "configs" / "iris.yaml"), "--out", str(run), "-q"]
        + ["--set", "training.epochs=20"],
    )
    assert trained.exit_code == 0, trained.output
    report = gradcheck_json(str(run), "--samples", "5")
    assert report["passed"] and report["samples"] == 5


def test_weight_decay_is_part_of_the_objective_when_coupled(write_yaml):
    document = {
        "data": {"source": "moons", "n_samples": 40},
        "model": {"hidden": [4], "activation": "tanh"},
        "optimizer": {"name": "sgd", "weight_decay": 0.5},
    }
    report = gradcheck_json(str(write_yaml(document)))
    assert report["weight_decay"] == 0.5 and report["passed"]
    assert coupled_weight_decay(validate(document)) == 0.5
    decoupled = {**document, "optimizer": {"name": "adamw", "weight_decay": 0.5}}
    assert coupled_weight_decay(validate(decoupled)) == 0.0
    assert gradcheck_json(str(write_yaml(decoupled)))["weight_decay"] == 0.0


def test_max_params_samples_entries():
    report = gradcheck_json(str(ROOT / "configs" / "spirals.yaml"), "--max-params", "10")
    assert [t["checked"] + t["skipped"] for t in report["tensors"]] == [10, 10, 10, 10, 10, 3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "0"], "--samples"),
        (["--eps", "0"], "must be above 0"),
        (["--tol", "-1"], "must be above 0"),
        (["--max-params", "-3"], "--max-params"),
    ],
)
def test_bad_options_exit_2(args, message):
    result = runner.invoke(app, ["gradcheck", str(ROOT / "configs" / "xor.yaml"), *args])
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)


def test_bad_targets_exit_2(tmp_path):
    result = runner.invoke(app, ["gradcheck", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2, result.output
    assert "not found; neither a config file nor a run folder" in flat(result.stderr)
    result = runner.invoke(app, ["gradcheck", str(tmp_path), "--set", "seed=1"])
    assert result.exit_code == 2, result.output
    assert "--set applies to a config file" in flat(result.stderr)
    result = runner.invoke(
        app, ["gradcheck", str(ROOT / "configs" / "xor.yaml"), "--set", "model.activation=nope"]
    )
    assert result.exit_code == 2, result.output
