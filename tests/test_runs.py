"""The run folder: files, atomic writes, pickle-free weights, reproducibility, reloading."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from bpcli.commands import app
from bpcli.errors import RunError
from bpcli.runs.atomic import atomic_write
from bpcli.runs.folder import MANIFEST, RUN_FILES, new_run_dir
from bpcli.runs.run import Run
from bpcli.weights import read_arrays as load_weights

runner = CliRunner()


def train(config_path, out, *extra):
    result = runner.invoke(app, ["train", str(config_path), "--out", str(out), "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return result


def test_run_folder_holds_every_file(write_config, small_config, tmp_path):
    train(write_config(small_config()), tmp_path / "run")
    assert sorted(os.listdir(tmp_path / "run")) == sorted([*RUN_FILES, MANIFEST])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs_run"] == 3
    assert set(summary["metrics"]) == {"train", "validation", "test"}
    assert {"numpy", "python", "blas", "bpcli"} <= set(summary["versions"])
    assert len(summary["config_hash"]) == 16
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,lr,loss,accuracy,val_loss,val_accuracy") and len(lines) == 4


def test_weights_reload_without_pickle(write_config, small_config, tmp_path):
    train(write_config(small_config()), tmp_path / "run")
    with np.load(tmp_path / "run" / "weights.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["W1", "W2", "b1", "b2"]
        assert archive["W1"].shape == (2, 8) and archive["W1"].dtype == np.float32


def test_same_seed_gives_bitwise_identical_weights(write_config, small_config, tmp_path):
    config = write_config(small_config(training={"epochs": 3, "shuffle": True}))
    train(config, tmp_path / "a")
    train(config, tmp_path / "b")
    first, second = (
        load_weights(tmp_path / "a/weights.npz"),
        load_weights(tmp_path / "b/weights.npz"),
    )
    for name in first:
        assert first[name].tobytes() == second[name].tobytes()
    assert (tmp_path / "a/metrics.csv").read_text().split("seconds")[0] == (
        tmp_path / "b/metrics.csv"
    ).read_text().split("seconds")[0]


def test_a_different_seed_gives_different_weights(write_config, small_config, tmp_path):
    train(write_config(small_config()), tmp_path / "a")
    train(write_config(small_config(seed=1)), tmp_path / "b")
    assert not np.array_equal(
        load_weights(tmp_path / "a/weights.npz")["W1"],
        load_weights(tmp_path / "b/weights.npz")["W1"],
    )


def test_loaded_run_predicts_like_the_trained_network(write_config, small_config, tmp_path):
    train(write_config(small_config()), tmp_path / "run")
    run = Run.load(tmp_path / "run")
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert run.network.widths == [2, 8, 2]
    assert run.preprocess.classes == [0, 1]
    assert run.summary == summary


def test_pickled_weights_are_refused(tmp_path):
    np.save(tmp_path / "evil.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    os.replace(tmp_path / "evil.npy", tmp_path / "weights.npz")
    with pytest.raises(RunError):
        load_weights(tmp_path / "weights.npz")


def test_truncated_weights_are_refused(write_config, small_config, tmp_path):
    train(write_config(small_config()), tmp_path / "run")
    weights = tmp_path / "run/weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(RunError, match="weights"):
        Run.load(tmp_path / "run")


def test_warm_start_from_saved_weights(write_config, small_config, tmp_path):
    train(write_config(small_config()), tmp_path / "first")
    warm = small_config(
        model={"hidden": [8], "init_from": str(tmp_path / "first/weights.npz")},
        training={"epochs": 1},
    )
    train(write_config(warm, name="warm"), tmp_path / "second")
    wrong = small_config(model={"hidden": [4], "init_from": str(tmp_path / "first/weights.npz")})
    result = runner.invoke(
        app, ["train", str(write_config(wrong, name="wrong")), "--out", str(tmp_path / "third")]
    )
    assert result.exit_code == 2 and "shape" in result.output


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write(tmp_path / "f.txt", "one")
    atomic_write(tmp_path / "f.txt", "two")
    assert os.listdir(tmp_path) == ["f.txt"] and (tmp_path / "f.txt").read_text() == "two"


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    atomic_write(tmp_path / "f.txt", "old")
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "f.txt", 12345)
    assert os.listdir(tmp_path) == ["f.txt"] and (tmp_path / "f.txt").read_text() == "old"


def test_run_folders_get_unique_names(tmp_path):
    first, made_first = new_run_dir(tmp_path, "x", None, False)
    second, made_second = new_run_dir(tmp_path, "x", None, False)
    assert first != second and first.name.startswith("x-") and made_first and made_second


def test_out_refuses_a_non_empty_folder_without_force(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(RunError, match="--force"):
        new_run_dir(tmp_path, "x", tmp_path / "busy", False)
    with pytest.raises(RunError, match="made by bpcli"):  # --force never touches a user's folder
        new_run_dir(tmp_path, "x", tmp_path / "busy", True)
    (tmp_path / "empty").mkdir()
    assert new_run_dir(tmp_path, "x", tmp_path / "empty", False) == (tmp_path / "empty", False)


def test_run_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic_write(tmp_path / "f.txt", "x")
    finally:
        os.umask(previous)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


def test_a_run_with_non_finite_weights_is_refused(write_config, small_config, tmp_path):
    train(write_config(small_config()), tmp_path / "run")
    arrays = load_weights(tmp_path / "run/weights.npz")
    arrays["W2"][0, 0] = np.nan
    np.savez(tmp_path / "run/weights.npz", **arrays)
    with pytest.raises(RunError, match="'W2' holds NaN"):
        Run.load(tmp_path / "run")
