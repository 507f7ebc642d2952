"""`bpcli sweep` and `bpcli runs`: specs validated like configs, deterministic trials (grid, random,
seeds, cv folds), the local process pool, diverging trials, Ctrl-C/SIGTERM and --resume in a real
subprocess, bitwise-identical weights whatever the number of workers, and the runs table."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import flat, runner

from bpcli import api
from bpcli.commands import app
from bpcli.errors import ConfigError
from bpcli.sweeps.backends import LocalBackend, cores
from bpcli.sweeps.plan import plan
from bpcli.sweeps.spec import read_spec

BASE = {
    "seed": 0,
    "data": {"source": "moons", "n_samples": 120},
    "model": {"hidden": [8]},
    "optimizer": {"name": "adam", "lr": 0.01},
    "training": {"epochs": 3, "batch_size": 16},
}


def write_spec(folder: Path, spec: dict | str, base: dict = BASE) -> Path:
    """base.yaml and sweep.yaml (spec mapping or raw YAML text) in `folder`; returns the spec path."""
    (folder / "base.yaml").write_text(yaml.safe_dump(base), encoding="utf-8")
    text = (
        spec
        if isinstance(spec, str)
        else yaml.safe_dump({"base": "base.yaml", **spec}, sort_keys=False)
    )
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def read_trials(sweep: Path) -> list[dict]:
    with open(sweep / "trials.csv", newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def weights(run: Path) -> dict:
    with np.load(run / "weights.npz") as archive:
        return dict(archive)


def sweep_cli(*args: str):
    result = runner.invoke(app, ["sweep", *map(str, args)])
    return result


# ---------------------------------------------------------------------------- a grid, end to end


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory) -> Path:
    """A 2 x 2 grid with 2 seeds (8 trials) on 2 workers, run once through the CLI."""
    folder = tmp_path_factory.mktemp("grid")
    spec = write_spec(
        folder,
        {
            "set": {"training.epochs": 4},
            "grid": {"optimizer.lr": [0.001, 0.05], "model.hidden": [[4], [16, 8]]},
            "seeds": [0, 1],
            "metric": "val_accuracy",
        },
    )
    result = sweep_cli(spec, "--out", folder / "sweep", "--workers", "2", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == json.loads((folder / "sweep" / "summary.json").read_text())
    return folder / "sweep"


def test_grid_runs_every_combination_with_every_seed(grid_sweep):
    rows = read_trials(grid_sweep)
    assert [row["id"] for row in rows] == [f"{i:03d}" for i in range(8)]
    combos = [(row["optimizer.lr"], row["model.hidden"], row["seed"]) for row in rows]
    assert combos == [
        (lr, hidden, seed)
        for lr in ("0.001", "0.05")
        for hidden in ("[4]", "[16, 8]")
        for seed in ("0", "1")
    ]
    assert {row["status"] for row in rows} == {"done"}
    for row in rows:
        run = api.load(grid_sweep / row["run"])  # each trial is a normal run folder
        assert run.config.optimizer.lr == float(row["optimizer.lr"])
        assert run.config.model.hidden == json.loads(row["model.hidden"])
        assert run.config.seed == int(row["seed"])
        assert run.config.training.epochs == 4
        assert run.evaluate("validation").metrics["accuracy"] == pytest.approx(
            float(row["val_accuracy"])
        )


def test_summary_ranks_points_by_mean_over_seeds(grid_sweep):
    rows = read_trials(grid_sweep)
    summary = json.loads((grid_sweep / "summary.json").read_text())
    assert summary["metric"] == "val_accuracy" and summary["mode"] == "max"
    assert summary["counts"]["done"] == 8 and summary["complete"]
    assert summary["params"] == ["optimizer.lr", "model.hidden"]
    means = []
    for point in summary["points"]:
        trials = [row for row in rows if row["run"] in point["trials"]]
        values = [float(row["val_accuracy"]) for row in trials]
        assert len(values) == 2 and {row["seed"] for row in trials} == {"0", "1"}
        assert point["mean"] == pytest.approx(statistics.fmean(values))
        assert point["std"] == pytest.approx(float(np.std(values)))
        means.append(point["mean"])
    assert means == sorted(means, reverse=True)
    assert summary["best"] == summary["points"][0]


def test_sweep_folder_layout_and_resolved_spec(grid_sweep):
    assert sorted(p.name for p in grid_sweep.iterdir()) == [
        "summary.json",
        "sweep.yaml",
        "trials",
        "trials.csv",
    ]
    resolved = yaml.safe_load((grid_sweep / "sweep.yaml").read_text())
    assert Path(resolved["base"]).is_absolute() and resolved["mode"] == "max"
    assert resolved["set"] == {"training.epochs": 4}


def test_stdout_is_the_sweep_folder_and_stderr_shows_trials_and_the_best(tmp_path):
    spec = write_spec(tmp_path, {"grid": {"optimizer.lr": [0.01, 0.02]}})
    result = sweep_cli(spec, "--out", tmp_path / "s", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "s")
    assert "000  0.01" in result.stderr and "001  0.02" in result.stderr
    assert "best: optimizer.lr=" in flat(result.stderr)
    quiet = sweep_cli(spec, "--out", tmp_path / "s", "--force", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_the_default_folder_is_named_after_the_spec_in_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path, {}, {**BASE, "output": {"dir": "out"}})
    result = api.sweep(spec, workers=1)
    assert result.path.parent == Path("out") and result.path.name.startswith("sweep-spec-")
    assert (result.path / "trials" / "000" / "weights.npz").is_file()


def test_address_is_for_the_ray_backend(tmp_path):
    spec = write_spec(tmp_path, {})
    result = sweep_cli(spec, "--address", "auto", "--out", tmp_path / "s")
    assert result.exit_code == 2 and "--address is for --backend ray" in flat(result.output)
    assert not (tmp_path / "s").exists()


def test_out_refuses_a_non_empty_folder_without_force(tmp_path):
    spec = write_spec(tmp_path, {})
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "keep.txt").write_text("x")
    result = sweep_cli(spec, "--out", tmp_path / "s")
    assert result.exit_code == 2 and "use --force" in flat(result.output)
    forced = sweep_cli(spec, "--out", tmp_path / "s", "--force")
    assert forced.exit_code == 2 and "--force reuses only a sweep folder" in flat(forced.output)
    assert (tmp_path / "s" / "keep.txt").read_text() == "x"


# ---------------------------------------------------------------------------- the plan


RANDOM = {
    "random": {
        "trials": 6,
        "seed": 3,
        "params": {
            "optimizer.lr": {"loguniform": [1.0e-4, 1.0e-1]},
            "optimizer.beta1": {"uniform": [0.5, 0.99]},
            "training.batch_size": {"randint": [8, 12]},
            "model.hidden": {"choice": [[4], [8, 8]]},
        },
    },
    "seeds": [0, 1],
}


def test_random_points_are_sampled_in_range_and_the_same_every_time(tmp_path):
    first = plan(read_spec(write_spec(tmp_path, RANDOM)))
    again = plan(read_spec(write_spec(tmp_path, RANDOM)))
    assert [(t.id, t.params, t.seed) for t in first.trials] == [
        (t.id, t.params, t.seed) for t in again.trials
    ]
    assert len(first.trials) == 12
    points = [t.params for t in first.trials[::2]]
    assert len({p["optimizer.lr"] for p in points}) == 6
    for p in points:
        assert 1e-4 <= p["optimizer.lr"] < 1e-1
        assert 0.5 <= p["optimizer.beta1"] < 0.99
        assert p["training.batch_size"] in range(8, 13)
        assert p["model.hidden"] in ([4], [8, 8])
    config = first.configs[first.trials[3].id]
    assert config.optimizer.lr == first.trials[3].params["optimizer.lr"] and config.seed == 1
    other = plan(
        read_spec(write_spec(tmp_path, {**RANDOM, "random": {**RANDOM["random"], "seed": 4}}))
    )
    assert [t.params for t in other.trials] != [t.params for t in first.trials]


def test_random_sweep_runs_and_records_sampled_values(tmp_path):
    spec = write_spec(tmp_path, {**RANDOM, "random": {**RANDOM["random"], "trials": 2}})
    result = api.sweep(spec, out=tmp_path / "s", workers=2)
    rows = read_trials(tmp_path / "s")
    assert [row["status"] for row in rows] == ["done"] * 4
    for trial, row in zip(result.plan.trials, rows, strict=True):
        assert float(row["optimizer.lr"]) == trial.params["optimizer.lr"]  # written in full
        assert (
            api.load(tmp_path / "s" / row["run"]).config.optimizer.lr
            == trial.params["optimizer.lr"]
        )


def test_cross_validation_folds_partition_the_rows_outside_the_test_split():
    validation, train = [], []
    for fold in range(4):
        experiment = api.validate(
            {**BASE, "data": {**BASE["data"], "test_split": 0.25}},
            ["data.folds=4", f"data.fold={fold}"],
        )
        splits = experiment.data.splits
        assert not set(splits["train"].rows) & set(splits["validation"].rows)
        assert not set(splits["test"].rows) & set(splits["validation"].rows)
        validation.append(splits["validation"].rows)
        train.append(splits["train"].rows)
    every = np.sort(np.concatenate(validation))
    assert len(every) == len(np.unique(every)) == 90  # 120 rows, 30 tested
    assert all(
        np.array_equal(np.sort(np.r_[t, v]), every) for t, v in zip(train, validation, strict=True)
    )


def test_cv_sweep_runs_one_trial_per_fold_and_averages_them(tmp_path):
    spec = write_spec(tmp_path, {"grid": {"optimizer.lr": [0.01]}, "cv": 3, "metric": "val_loss"})
    result = api.sweep(spec, out=tmp_path / "s", workers=2)
    rows = read_trials(tmp_path / "s")
    assert [row["fold"] for row in rows] == ["0", "1", "2"]
    runs = [api.load(tmp_path / "s" / row["run"]) for row in rows]
    assert [(r.config.data.folds, r.config.data.fold) for r in runs] == [(3, 0), (3, 1), (3, 2)]
    best = result.summary["best"]
    assert best["mean"] == pytest.approx(statistics.fmean(float(r["val_loss"]) for r in rows))
    assert result.summary["mode"] == "min"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.folds=3"], "data.folds and data.fold go together"),
        (["data.folds=3", "data.fold=3"], "data.fold must be below data.folds (3), got 3"),
        (
            ["data.folds=1", "data.fold=0"],
            "data.folds (--set): Input should be greater than or equal to 2",
        ),
    ],
)
def test_fold_settings_are_validated(overrides, message):
    with pytest.raises(ConfigError) as error:
        api.validate(BASE, overrides)
    assert message in str(error.value)


# ---------------------------------------------------------------------------- bad specs


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "base: base.yaml\ngrid:\n  optimizer.lrr: [0.1]\n",
            "grid.optimizer.lrr (SPEC, line 3): unknown config key 'optimizer.lrr' - did you mean "
            "'optimizer.lr'?",
        ),
        (
            "base: base.yaml\nseedz: [1]\n",
            "seedz (SPEC, line 2): unknown key - did you mean 'seeds'?",
        ),
        (
            "base: base.yaml\ngrid:\n  optimizer.lr: [0.1, -1]\n",
            "optimizer.lr (SPEC, line 3): Input should be greater than 0, got -1",
        ),
        (
            "base: base.yaml\nmetric: accuracy\n",
            "metric (SPEC, line 2): 'accuracy' is not measured by these trials - did you mean",
        ),
        (
            "base: base.yaml\ngrid: {optimizer.lr: [0.1]}\nrandom: {trials: 2, params: {seed: {randint: [0, 9]}}}\n",
            "give grid or random, not both",
        ),
        (
            "base: base.yaml\nrandom:\n  trials: 2\n  params:\n    optimizer.lr: {loguniform: [0, 1]}\n",
            "random.params.optimizer.lr (SPEC, line 5): loguniform needs low > 0",
        ),
        (
            "base: base.yaml\nseeds: [1, 2]\ngrid:\n  seed: [3]\n",
            "grid.seed (SPEC, line 4): set by the spec's 'seeds' key",
        ),
        ("base: missing.yaml\n", "config file not found"),
        (
            "base: base.yaml\ncv: 1\n",
            "cv (SPEC, line 2): Input should be greater than or equal to 2",
        ),
    ],
)
def test_a_bad_spec_exits_2_naming_key_and_line(tmp_path, text, expected):
    spec = write_spec(tmp_path, text)
    result = sweep_cli(spec, "--out", tmp_path / "s")
    assert result.exit_code == 2, result.output
    assert expected.replace("SPEC", str(spec)) in flat(result.output)
    assert "Traceback" not in result.output and not (tmp_path / "s").exists()


# ---------------------------------------------------------------------------- divergence


def test_a_diverging_trial_is_a_result_not_a_failure(tmp_path):
    base = {
        "data": {"source": "sine", "n_samples": 200},
        "loss": "mse",
        "optimizer": {"name": "sgd"},
        "training": {"epochs": 3},
    }
    spec = write_spec(tmp_path, {"grid": {"optimizer.lr": [0.01, 50]}, "metric": "val_r2"}, base)
    result = sweep_cli(spec, "--out", tmp_path / "s", "--workers", "2", "--json")
    assert result.exit_code == 0, result.output
    rows = read_trials(tmp_path / "s")
    assert [row["status"] for row in rows] == ["done", "diverged"]
    assert "training diverged at epoch 1" in rows[1]["message"]
    summary = json.loads(result.stdout)
    assert summary["counts"]["diverged"] == 1 and summary["best"]["params"] == {
        "optimizer.lr": 0.01
    }
    assert summary["points"][1]["mean"] is None  # a diverged point is shown, never ranked
    assert "diverged" in result.stderr


# ---------------------------------------------------------------------------- workers


def test_workers_default_to_the_cores_with_blas_threads_sharing_them():
    backend = LocalBackend(None, None, None)
    assert backend.workers == cores() and backend.workers * backend.threads <= cores()
    assert LocalBackend(1, None, None).threads == cores()


def blas_threads() -> list[int]:
    """Run inside a pool worker: the thread counts of the BLAS libraries the engine loads (NumPy's
    and SciPy's)."""
    import numpy  # noqa: F401
    import scipy.linalg.blas  # noqa: F401
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_each_worker_limits_its_blas_threads_before_numpy_loads():
    pytest.importorskip("threadpoolctl", reason="threadpoolctl reads the BLAS thread count")
    with LocalBackend(2, 1, None) as backend:
        counts = backend.pool.submit(blas_threads).result()
    assert len(counts) >= 1 and set(counts) == {1}


def test_same_trials_and_bitwise_same_weights_with_one_or_two_workers(tmp_path):
    spec = write_spec(tmp_path, {"grid": {"optimizer.lr": [0.01, 0.03]}, "seeds": [0, 1]})
    one = api.sweep(spec, out=tmp_path / "one", workers=1, threads=1)
    two = api.sweep(spec, out=tmp_path / "two", workers=2, threads=1)
    assert [t.id for t in one.plan.trials] == [t.id for t in two.plan.trials]
    for trial in one.plan.trials:
        a, b = (
            weights(tmp_path / "one/trials" / trial.id),
            weights(tmp_path / "two/trials" / trial.id),
        )
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert one.summary["best"]["mean"] == two.summary["best"]["mean"]


# ---------------------------------------------------------------------------- stop and resume


SLOW = {
    "grid": {"optimizer.lr": [0.001, 0.002]},
    "seeds": [0, 1],
    "set": {"training.epochs": 40, "training.checkpoint_every": 1, "data.n_samples": 400},
}


def start_sweep(spec: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bpcli", "sweep", str(spec), "--out", str(out), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def wait_for(path: Path, process: subprocess.Popen) -> None:
    """Until `path` exists (a trial wrote its first checkpoint), or fail if the sweep ended."""
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the sweep ended first: {process.communicate()}")
        try:
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass


def stop_sweep(tmp_path: Path, signum: int) -> tuple[Path, subprocess.Popen, str]:
    """Start the SLOW sweep in a subprocess, send `signum` once trial 000 wrote a checkpoint."""
    spec = write_spec(tmp_path, SLOW)
    process = start_sweep(spec, tmp_path / "s")
    wait_for(tmp_path / "s/trials/000/checkpoint.npz", process)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert out == "" and "Traceback" not in err
    assert f"continue with: bpcli sweep --resume {tmp_path / 's'}" in flat(err)
    statuses = [row["status"] for row in read_trials(tmp_path / "s")]
    assert statuses[0] == "interrupted" and "pending" in statuses
    assert not list((tmp_path / "s").rglob(".*.tmp"))
    return spec, process, err


def test_sigterm_stops_the_sweep_with_143(tmp_path):
    _, process, err = stop_sweep(tmp_path, signal.SIGTERM)
    assert process.returncode == 143, err
    assert "interrupted by SIGTERM" in err


def test_ctrl_c_checkpoints_running_trials_and_resume_runs_only_what_is_missing(tmp_path):
    spec, process, err = stop_sweep(tmp_path, signal.SIGINT)
    assert process.returncode == 130, err
    rows = read_trials(tmp_path / "s")
    kept = {row["id"] for row in rows if row["status"] == "done"}
    stamps = {i: (tmp_path / "s/trials" / i / "weights.npz").stat().st_mtime_ns for i in kept}

    resumed = sweep_cli("--resume", tmp_path / "s", "--workers", "2", "--threads", "1")
    assert resumed.exit_code == 0, resumed.output
    assert f"{len(kept)} trials kept, {4 - len(kept)} to run" in resumed.stderr
    assert [row["status"] for row in read_trials(tmp_path / "s")] == ["done"] * 4
    assert all(
        (tmp_path / "s/trials" / i / "weights.npz").stat().st_mtime_ns == t
        for i, t in stamps.items()
    )

    whole = api.sweep(spec, out=tmp_path / "whole", workers=2, threads=1)
    for (
        trial
    ) in whole.plan.trials:  # resumed from checkpoints: bitwise what an unbroken sweep gives
        a = weights(tmp_path / "s/trials" / trial.id)
        b = weights(tmp_path / "whole/trials" / trial.id)
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_refuses_a_folder_that_is_not_a_sweep(tmp_path):
    result = sweep_cli("--resume", tmp_path)
    assert result.exit_code == 2 and "is not a sweep folder" in flat(result.output)
    both = sweep_cli(tmp_path / "spec.yaml", "--resume", tmp_path)
    assert both.exit_code == 2 and "--resume SWEEP_DIR continues that sweep" in flat(both.output)


def test_resume_of_a_finished_sweep_runs_nothing_and_a_changed_base_is_refused(
    grid_sweep, tmp_path
):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(grid_sweep), str(copy)], check=True)
    result = sweep_cli("--resume", copy)
    assert result.exit_code == 0, result.output
    assert "8 trials kept, 0 to run" in result.stderr
    base = Path(yaml.safe_load((copy / "sweep.yaml").read_text())["base"])
    original = base.read_text()
    try:
        base.write_text(original.replace("n_samples: 120", "n_samples: 130"))
        changed = sweep_cli("--resume", copy)
    finally:
        base.write_text(original)
    assert changed.exit_code == 2 and "did the base config change?" in flat(changed.output)


# ---------------------------------------------------------------------------- bpcli runs


def runs_json(*args) -> list[dict]:
    result = runner.invoke(app, ["runs", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_runs_lists_every_run_with_swept_values(grid_sweep):
    rows = runs_json(grid_sweep)
    assert [row["run"] for row in rows] == [f"trials/{i:03d}" for i in range(8)]
    trials = read_trials(grid_sweep)
    for row, trial in zip(rows, trials, strict=True):
        assert row["params"] == {
            "optimizer.lr": trial["optimizer.lr"],
            "model.hidden": trial["model.hidden"],
        }
        assert row["val_accuracy"] == pytest.approx(float(trial["val_accuracy"]))
        assert (
            row["task"] == "classification" and row["status"] == "finished" and row["epochs"] == 4
        )


@pytest.mark.parametrize(
    "key, descending", [("val_accuracy", True), ("test_loss", False), ("seconds", False)]
)
def test_runs_sort_puts_the_best_first(grid_sweep, key, descending):
    values = [row[key] for row in runs_json(grid_sweep, "--sort", key)]
    assert values == sorted(values, reverse=descending)


def test_runs_table_and_errors(grid_sweep, iris_run, tmp_path):
    (tmp_path / "both").mkdir()
    subprocess.run(["cp", "-r", str(iris_run), str(tmp_path / "both" / "iris")], check=True)
    subprocess.run(["cp", "-r", str(grid_sweep), str(tmp_path / "both" / "sweep")], check=True)
    rows = runs_json(tmp_path / "both")
    assert len(rows) == 9 and rows[0]["run"] == "iris" and rows[0]["params"] == {}
    table = runner.invoke(app, ["runs", str(tmp_path / "both"), "--sort", "test_accuracy"])
    assert table.exit_code == 0 and table.stdout == ""
    assert "9 runs under" in table.stderr and "sweep/trials/007" in table.stderr
    bad = runner.invoke(app, ["runs", str(grid_sweep), "--sort", "val_acc"])
    assert bad.exit_code == 2 and "--sort val_acc: no run has it" in flat(bad.output)
    assert "val_accuracy" in bad.output
    missing = runner.invoke(app, ["runs", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "not a folder" in missing.output
    assert math.isfinite(rows[0]["test_accuracy"])


# ---------------------------------------------------------------------------- bpcli plot SWEEP_DIR


def test_plot_draws_a_sweep_metric_per_swept_parameter(grid_sweep, tmp_path):
    pytest.importorskip("matplotlib", reason='plots need matplotlib: pip install "bpcli[plot]"')
    out = tmp_path / "sweep.png"
    result = runner.invoke(app, ["plot", str(grid_sweep), "-m", "test_accuracy", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out) and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wrong = runner.invoke(app, ["plot", str(grid_sweep), "-m", "accuracy", "-o", str(out)])
    assert wrong.exit_code == 2 and "available: test_accuracy, test_loss" in flat(wrong.output)


def test_plot_of_a_sweep_without_swept_parameters_says_so(tmp_path):
    pytest.importorskip("matplotlib", reason='plots need matplotlib: pip install "bpcli[plot]"')
    spec = write_spec(tmp_path, {"seeds": [0, 1]})
    api.sweep(spec, out=tmp_path / "s", workers=1)
    result = runner.invoke(app, ["plot", str(tmp_path / "s")])
    assert result.exit_code == 2 and "varies no parameter" in flat(result.output)
    assert not (tmp_path / "s" / "sweep.png").exists()


@pytest.mark.parametrize("width", [30, 40, 60, 80, 120])
def test_the_live_sweep_line_fits_the_terminal(width):
    from bpcli.commands.render import SweepLine

    line = SweepLine(16, now=0.0)
    line.done, line.now, line.best = 5, 10.0, "best val_accuracy 0.9667"
    text = line.render(width)
    assert text.cell_len <= width
    assert "5/16  ETA 0:22" in text.plain  # 10 s for 5 trials: 22 s for the other 11
    assert ("best val_accuracy 0.9667" in text.plain) == (width >= 60)
    assert ("━" in text.plain) == (width >= 40)  # the bar takes what is left, at least 8 cells
