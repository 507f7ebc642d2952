"""Learning-rate schedules: reduce_on_plateau against torch's ReduceLROnPlateau (its documented
algorithm written out below), the linear warm-up, the config checks, and exact resume."""

from __future__ import annotations

import csv
import itertools
import math
import os
import signal
import subprocess
import sys
import zlib

import numpy as np
import pytest
import yaml
from helpers import flat, runner

from bpcli import api
from bpcli.commands import app
from bpcli.config import config_from_dict
from bpcli.core.schedules import SCHEDULES, build
from bpcli.runs.checkpoint import check_state, data_fingerprint
from bpcli.runs.checkpoint import load as load_checkpoint
from bpcli.runs.folder import RunFolder
from bpcli.training.experiment import setup
from bpcli.training.guard import TrainingInterrupted
from bpcli.training.loop import final_metrics, fit


def torch_reduce_lr_on_plateau(
    metrics, lr, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps=1e-8
):
    """The learning rate of every epoch under torch.optim.lr_scheduler.ReduceLROnPlateau, as its
    documentation and source define it: scheduler.step(metric) after each epoch."""
    best = math.inf if mode == "min" else -math.inf
    bad_epochs = cooldown_counter = 0
    rates = []
    for metric in metrics:
        rates.append(lr)
        if mode == "min" and threshold_mode == "rel":
            better = metric < best * (1.0 - threshold)
        elif mode == "min":
            better = metric < best - threshold
        elif threshold_mode == "rel":
            better = metric > best * (threshold + 1.0)
        else:
            better = metric > best + threshold
        if better:
            best, bad_epochs = metric, 0
        else:
            bad_epochs += 1
        if cooldown_counter > 0:
            cooldown_counter -= 1
            bad_epochs = 0
        if bad_epochs > patience:
            new_lr = max(lr * factor, min_lr)
            if lr - new_lr > eps:
                lr = new_lr
            cooldown_counter, bad_epochs = cooldown, 0
    return rates


def bpcli_rates(schedule, monitor, metrics):
    rates = []
    for epoch, metric in enumerate(metrics):
        rates.append(schedule.rate(epoch))
        schedule.observe(epoch, {monitor: metric, "other": 0.0})
    return rates


def noisy_plateaus(rng, n, direction):
    """A metric that improves, stalls and wobbles: long flat stretches with small noise."""
    steps = np.cumsum(np.where(rng.random(n) < 0.1, rng.exponential(0.1, n), 0.0))
    trend = np.exp(-steps) if direction == "min" else 1.0 - 0.8 * np.exp(-steps)
    return (trend + rng.normal(0, 2e-4, n)).tolist()


@pytest.mark.parametrize(
    "monitor, threshold_mode, cooldown, min_lr, patience",
    list(
        itertools.product(
            ["val_loss", "val_accuracy", "mae", "r2"], ["rel", "abs"], [0, 2], [0.0, 3e-4], [0, 3]
        )
    ),
)
def test_reduce_on_plateau_gives_torchs_learning_rates(
    monitor, threshold_mode, cooldown, min_lr, patience
):
    mode = "min" if monitor in ("val_loss", "mae") else "max"
    rng = np.random.default_rng(zlib.crc32(f"{monitor} {threshold_mode} {cooldown}".encode()))
    metrics = noisy_plateaus(rng, 150, mode)
    settings = {
        "factor": 0.5,
        "patience": patience,
        "threshold": 1e-3,
        "threshold_mode": threshold_mode,
        "cooldown": cooldown,
        "min_lr": min_lr,
    }
    schedule = SCHEDULES["reduce_on_plateau"](0.01, 150, monitor=monitor, **settings)
    expected = torch_reduce_lr_on_plateau(metrics, 0.01, mode, **settings)
    assert bpcli_rates(schedule, monitor, metrics) == expected
    assert len(set(expected)) > 2  # the sequence did reduce, more than once


def test_reduce_on_plateau_by_hand():
    # patience 2: the third epoch in a row without improvement (epoch 4) reduces the rate, which
    # the next epoch trains with; the cooldown of 1 epoch then counts no bad epoch.
    schedule = build("reduce_on_plateau", 1.0, 10, factor=0.5, patience=2, cooldown=1)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    assert bpcli_rates(schedule, "val_loss", metrics) == [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_a_rate_at_min_lr_stays_there_and_nan_counts_as_no_improvement():
    schedule = build("reduce_on_plateau", 1.0, 8, factor=0.1, patience=0, min_lr=0.05)
    rates = bpcli_rates(schedule, "val_loss", [1.0, math.nan, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    assert rates == [1.0, 1.0, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05]


def test_warmup_rises_linearly_then_hands_over_to_the_schedule():
    schedule = build("cosine", 0.1, 10, warmup_epochs=4, min_lr=0.0)
    rates = [schedule.rate(e) for e in range(10)]
    assert rates[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    cosine = SCHEDULES["cosine"](0.1, 6, min_lr=0.0)
    assert rates[4:] == pytest.approx([cosine.rate(e) for e in range(6)])
    assert rates[4] == 0.1


def test_warmup_holds_back_the_plateau_until_it_ends():
    schedule = build(
        "reduce_on_plateau", 1.0, 6, warmup_epochs=2, monitor="loss", patience=0, factor=0.5
    )
    rates = bpcli_rates(schedule, "loss", [5.0, 5.0, 1.0, 1.0, 1.0, 1.0])
    # the flat warm-up epochs are not plateaus; from epoch 2 on it is the plateau schedule
    assert rates == [0.5, 1.0, 1.0, 1.0, 0.5, 0.25]


def test_the_schedule_state_round_trips():
    schedule = build("reduce_on_plateau", 1.0, 10, warmup_epochs=1, patience=1, cooldown=2)
    bpcli_rates(schedule, "val_loss", [3.0, 2.0, 2.0, 2.0, 2.0])
    copy = build("reduce_on_plateau", 1.0, 10, warmup_epochs=1, patience=1, cooldown=2)
    copy.load_state(schedule.state())
    tail = [2.0, 1.0, 1.0, 1.0, 1.0]
    assert bpcli_rates(copy, "val_loss", tail) == bpcli_rates(schedule, "val_loss", tail)


# ---------------------------------------------------------------------------- config and training


def moons(**sections):
    config = {
        "seed": 5,
        "data": {"source": "moons", "n_samples": 300, "noise": 0.3, "validation_split": 0.2},
        "model": {"hidden": [16, 8], "activation": "tanh", "dropout": 0.2},
        "optimizer": {
            "name": "adam",
            "lr": 0.05,
            "schedule": {
                "name": "reduce_on_plateau",
                "monitor": "val_loss",
                "patience": 1,
                "factor": 0.5,
                "warmup_epochs": 2,
            },
        },
        "training": {"epochs": 20, "batch_size": 16},
    }
    for key, value in sections.items():
        config[key] = {**config[key], **value}
    return config


def test_training_records_the_plateau_reductions():
    experiment = setup(config_from_dict(moons()))
    history = fit(experiment)
    rates = [record["lr"] for record in history.epochs]
    assert rates[:3] == pytest.approx([0.025, 0.05, 0.05])
    assert min(rates) < 0.05 and sorted(rates[2:], reverse=True) == rates[2:]


def test_resume_after_an_interrupt_is_bitwise_exact_with_dropout_and_plateau(tmp_path):
    config = config_from_dict(moons())
    whole = setup(config)
    whole_history = fit(whole)
    assert len(set(r["lr"] for r in whole_history.epochs[2:])) > 1  # the plateau acted

    first = setup(config)
    seen: list[dict] = []
    with pytest.raises(TrainingInterrupted) as stop:  # what Ctrl-C does at a batch boundary
        fit(first, seen.append, should_stop=lambda: signal.SIGINT if len(seen) >= 6 else None)
    RunFolder(tmp_path).write_progress(stop.value.state, config, data_fingerprint(first))
    state, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert state.schedule is not None and set(state.schedule) >= {"lr", "best"}
    resumed = setup(config_from_dict(moons()))
    check_state(resumed, state, meta, tmp_path / "checkpoint.npz")
    history = fit(resumed, resume=state)

    for name, array in whole.network.state().items():
        assert np.array_equal(resumed.network.state()[name], array), name
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in history.epochs]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in whole_history.epochs]
    assert final_metrics(resumed) == final_metrics(whole)


def test_a_damaged_schedule_state_is_refused(tmp_path):
    run = api.train(moons(training={"epochs": 3}), out=tmp_path / "r")
    state, meta = run.folder.read_checkpoint()
    state.schedule = {**state.schedule, "lr": "fast"}
    run.folder.write_progress(state, run.config, meta.data_fingerprint)
    result = runner.invoke(app, ["train", "--resume", str(run.path), "--set", "training.epochs=5"])
    assert result.exit_code == 2, result.output
    assert "invalid learning-rate schedule state" in flat(result.stderr)


@pytest.mark.parametrize(
    "override, phrases",
    [
        (
            "optimizer.schedule.monitor=val_r2",
            ["optimizer.schedule.monitor (--set)", "'val_r2' is not measured", "val_accuracy"],
        ),
        ("optimizer.schedule.factor=1.5", ["optimizer.schedule.factor (--set)", "less than 1"]),
        ("optimizer.schedule.threshold_mode=relative", ["'rel' or 'abs'"]),
        ("data.validation_split=0", ["'val_loss' is not measured in this run"]),
    ],
)
def test_schedule_settings_are_checked_at_the_boundary(write_config, override, phrases):
    result = runner.invoke(app, ["validate", str(write_config(moons())), "--set", override])
    assert result.exit_code == 2, result.output
    message = flat(result.stderr)
    for phrase in phrases:
        assert phrase in message, message


def test_a_warmup_as_long_as_training_is_all_warmup():
    schedule = build("cosine", 0.1, 4, warmup_epochs=5)
    assert [schedule.rate(e) for e in range(4)] == pytest.approx([0.02, 0.04, 0.06, 0.08])


def test_warmup_applies_to_every_schedule(write_config):
    for name in SCHEDULES:
        override = f"optimizer.schedule={{name: {name}, warmup_epochs: 3}}"
        result = runner.invoke(app, ["validate", str(write_config(moons())), "--set", override])
        assert result.exit_code == 0, (name, result.output)


def test_a_real_ctrl_c_and_resume_is_bitwise_exact_with_dropout_and_plateau(tmp_path):
    """A real SIGINT to a real process; the run is endless, so the signal lands mid-run whenever
    it comes; resumed to two epochs past the stop, it equals an uninterrupted run of that length."""
    config = {
        "seed": 4,
        "data": {"source": "digits"},
        "model": {"hidden": [64], "dropout": 0.2},
        "optimizer": {
            "name": "adam",
            "lr": 0.01,
            "schedule": {"name": "reduce_on_plateau", "patience": 0, "warmup_epochs": 1},
        },
        "training": {"epochs": 100_000, "batch_size": 16, "keep": "best"},
    }
    path = tmp_path / "endless.yaml"
    path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "bpcli", "train", str(path), "--out", str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    for line in process.stderr:
        if line.startswith("epoch 1/"):
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    stopped = load_checkpoint(tmp_path / "run" / "checkpoint.npz")[0].epoch
    epochs = f"training.epochs={stopped + 2}"
    resumed = runner.invoke(
        app, ["train", "--resume", str(tmp_path / "run"), "--set", epochs, "-q"]
    )
    assert resumed.exit_code == 0, resumed.output
    whole = runner.invoke(
        app, ["train", str(path), "--out", str(tmp_path / "whole"), "--set", epochs, "-q"]
    )
    assert whole.exit_code == 0, whole.output
    with (
        np.load(tmp_path / "run" / "weights.npz") as a,
        np.load(tmp_path / "whole" / "weights.npz") as b,
    ):
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            assert np.array_equal(a[name], b[name]), name
    rows = [
        [
            {k: v for k, v in r.items() if k != "seconds"}
            for r in csv.DictReader(open(p / "metrics.csv"))
        ]
        for p in (tmp_path / "run", tmp_path / "whole")
    ]
    assert rows[0] == rows[1] and len(rows[0]) == stopped + 2
