"""Same config and seed: bitwise identical weights and metrics; the summary records what produced them."""

from __future__ import annotations

import csv
import json

import numpy as np
from typer.testing import CliRunner

from bpcli.commands import app
from bpcli.config import load_config
from bpcli.runs.environment import blas_name

runner = CliRunner()
ARGS = [
    "configs/moons.yaml",
    "-q",
    "--set",
    "training.epochs=15",
    "--set",
    "optimizer.name=momentum",
]


def train(tmp_path, name, *extra):
    result = runner.invoke(app, ["train", *ARGS, *extra, "--out", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    return tmp_path / name


def weights(run):
    with np.load(run / "weights.npz", allow_pickle=False) as archive:
        return dict(archive)


def metrics(run):
    with open(run / "metrics.csv") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def test_same_config_and_seed_give_bitwise_identical_runs(tmp_path):
    first, second = train(tmp_path, "a"), train(tmp_path, "b")
    a, b = weights(first), weights(second)
    assert sorted(a) == sorted(b)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    assert metrics(first) == metrics(second)
    summaries = [json.loads((run / "summary.json").read_text()) for run in (first, second)]
    assert summaries[0]["metrics"] == summaries[1]["metrics"]
    assert (first / "checkpoint.npz").read_bytes() != b""


def test_another_seed_gives_other_weights(tmp_path):
    a, b = weights(train(tmp_path, "a")), weights(train(tmp_path, "b", "--set", "seed=1"))
    assert not np.array_equal(a["W1"], b["W1"])


def test_summary_records_numpy_blas_and_config_hash(tmp_path):
    run = train(tmp_path, "a")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["versions"]["numpy"] == np.__version__
    assert summary["versions"]["blas"] == blas_name() and summary["versions"]["blas"] != ""
    resolved = load_config(run / "config.yaml")
    assert summary["config_hash"] == resolved.digest() and len(summary["config_hash"]) == 16
    changed = load_config(run / "config.yaml", ["optimizer.lr=0.5"])
    assert changed.digest() != summary["config_hash"]
