"""`search: optuna`: points proposed by Optuna's TPE from the results so far (the extra bpcli[optuna]),
the same with one worker every time, told back after an interruption and continued by --resume."""

from __future__ import annotations

import os
import signal
import sys

import pytest
from helpers import flat, runner
from test_sweep import read_trials, write_spec

from bpcli import api
from bpcli.commands import app
from bpcli.errors import MissingExtra

SPEC = {
    "search": "optuna",
    "random": {
        "trials": 5,
        "seed": 1,
        "params": {
            "optimizer.lr": {"loguniform": [1.0e-4, 1.0e-1]},
            "model.hidden": {"choice": [[4], [8, 8]]},
            "training.batch_size": {"randint": [8, 32]},
        },
    },
    "seeds": [0, 1],
    "metric": "val_accuracy",
}


def points_of(rows: list[dict]) -> list[tuple]:
    return [(r["optimizer.lr"], r["model.hidden"], r["training.batch_size"]) for r in rows[::2]]


def test_optuna_proposes_the_points_the_same_way_with_one_worker(tmp_path):
    pytest.importorskip("optuna", reason='search: optuna needs Optuna: pip install "bpcli[optuna]"')
    spec = write_spec(tmp_path, SPEC)
    first = api.sweep(spec, out=tmp_path / "a", workers=1)
    api.sweep(spec, out=tmp_path / "b", workers=1)
    rows = read_trials(tmp_path / "a")
    assert [row["id"] for row in rows] == [f"{i:03d}" for i in range(10)]
    assert [row["seed"] for row in rows] == ["0", "1"] * 5 and {r["status"] for r in rows} == {
        "done"
    }
    assert points_of(rows) == points_of(read_trials(tmp_path / "b"))
    assert len(set(points_of(rows))) == 5
    for lr, hidden, batch in points_of(rows):
        assert 1e-4 <= float(lr) <= 1e-1 and hidden in ("[4]", "[8, 8]") and 8 <= int(batch) <= 32
    means = [p["mean"] for p in first.summary["points"]]
    assert first.summary["best"]["mean"] == max(means) and first.summary["complete"]


class StopAfterFirstTrial(api.SweepListener):
    def on_trial(self, trial, outcome, row) -> None:
        if trial.id == "000":
            os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupted_optuna_sweep_resumes_to_its_budget(tmp_path):
    pytest.importorskip("optuna", reason='search: optuna needs Optuna: pip install "bpcli[optuna]"')
    spec = write_spec(tmp_path, SPEC)
    with pytest.raises(api.SweepInterrupted):
        api.sweep(spec, out=tmp_path / "s", workers=1, listener=StopAfterFirstTrial())
    before = read_trials(tmp_path / "s")
    assert before[0]["status"] == "done" and len(before) < 10
    assert (tmp_path / "s" / "trials" / "000" / "weights.npz").is_file()
    summary = api.resume_sweep(tmp_path / "s", workers=1).summary
    after = read_trials(tmp_path / "s")
    assert len(after) == 10 and {row["status"] for row in after} == {"done"}
    assert points_of(after)[: len(before) // 2] == points_of(before)[: len(before) // 2]
    assert summary["complete"] and summary["counts"]["done"] == 10 and len(summary["points"]) == 5


def test_search_optuna_needs_a_random_block(tmp_path):
    spec = write_spec(tmp_path, {"search": "optuna", "grid": {"optimizer.lr": [0.1]}})
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "search: optuna proposes the points of a random: block" in flat(result.output)


def test_without_optuna_installed_the_message_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    spec = write_spec(tmp_path, SPEC)
    with pytest.raises(MissingExtra, match=r'pip install "bpcli\[optuna\]"'):
        api.sweep(spec, out=tmp_path / "s")
    assert not (tmp_path / "s").exists()
