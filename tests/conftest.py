"""Shared fixtures: paths to the example configs and a helper to write small configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


@pytest.fixture
def write_config(tmp_path):
    """Write a config mapping (or raw YAML text) to tmp_path/<name>.yaml and return its path."""

    def write(document, name="config"):
        path = tmp_path / f"{name}.yaml"
        text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


def make_small_config(**sections) -> dict:
    """A config that trains in a fraction of a second: moons, one small hidden layer, few epochs."""
    config = {
        "seed": 0,
        "data": {"source": "moons", "n_samples": 120},
        "model": {"hidden": [8]},
        "loss": "cross_entropy",
        "optimizer": {"name": "adam", "lr": 0.01},
        "training": {"epochs": 3, "batch_size": 16},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@pytest.fixture
def small_config():
    """make_small_config as a fixture: small_config(training={"epochs": 5}) merges sections."""
    return make_small_config


@pytest.fixture(scope="session")
def iris_run(tmp_path_factory) -> Path:
    """configs/iris.yaml trained for 40 epochs, once for the whole test session (read-only)."""
    from helpers import train

    return train(
        CONFIGS / "iris.yaml", tmp_path_factory.mktemp("runs") / "iris", "training.epochs=40"
    )
