"""`bpcli inspect`: the report of a run folder, as Rich text and as JSON, and its broken-folder errors."""

from __future__ import annotations

import csv
import json

import pytest
from helpers import flat
from typer.testing import CliRunner

from bpcli.commands import app

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("inspect") / "iris"
    args = [
        "train",
        "configs/iris.yaml",
        "--out",
        str(out),
        "--quiet",
        "--set",
        "training.epochs=6",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_report_shows_every_section(run):
    result = runner.invoke(app, ["inspect", str(run)])
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    for expected in (
        "iris (classification)",
        "config",
        "adam, lr",
        "parameters:",
        "final metrics",
        "best epoch",
        "diagnostics, epoch 6",
        "no gradient warnings",
        "weights.npz",
        "diagnostics.csv",
    ):
        assert expected in text, expected


def test_json_report_agrees_with_the_run_files(run):
    result = runner.invoke(app, ["inspect", str(run), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    summary = json.loads((run / "summary.json").read_text())
    assert (
        report["parameters"]
        == summary["parameters"]
        == sum(layer["parameters"] for layer in report["layers"])
    )
    assert [layer["shape"] for layer in report["layers"]] == [[4, 16], [16, 3]]
    with open(run / "metrics.csv", newline="") as stream:
        records = list(csv.DictReader(stream))
    best = min(records, key=lambda r: float(r["val_loss"]))
    assert report["training"]["best_epoch"] == int(best["epoch"])
    assert report["training"]["best_by"] == "val_loss"
    assert report["diagnostics"]["last_epoch"] == 6
    assert {f["name"] for f in report["files"]} >= {"config.yaml", "weights.npz", "summary.json"}


def test_report_lists_the_warnings_of_a_damaged_run(tmp_path):
    args = ["train", "configs/moons.yaml", "--out", str(tmp_path / "dead"), "--quiet"]
    for override in (
        "model.activation=relu",
        "optimizer.name=sgd",
        "optimizer.lr=5",
        "training.epochs=3",
    ):
        args += ["--set", override]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["inspect", str(tmp_path / "dead")])
    assert result.exit_code == 0, result.output
    assert "ReLU units are dead" in flat(result.stdout)


def test_report_without_diagnostics(tmp_path):
    args = ["train", "configs/xor.yaml", "--out", str(tmp_path / "xor"), "--quiet"]
    args += ["--set", "training.diagnostics=false", "--set", "training.epochs=5"]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["inspect", str(tmp_path / "xor")])
    assert result.exit_code == 0, result.output
    assert "none recorded" in result.stdout


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run: (run / "summary.json").unlink(), "training did not finish"),
        (lambda run: (run / "metrics.csv").unlink(), "metrics.csv is missing"),
        (
            lambda run: (run / "diagnostics.csv").write_text("epoch,layer\nx,y\n"),
            "not a readable diagnostics file",
        ),
        (lambda run: (run / "weights.npz").write_bytes(b"junk"), "not a readable weights"),
    ],
)
def test_broken_run_folders_are_one_message_and_exit_2(run, tmp_path, damage, message):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    damage(copy)
    result = runner.invoke(app, ["inspect", str(copy)])
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert "Traceback" not in result.output


def test_inspect_of_a_missing_folder(tmp_path):
    result = runner.invoke(app, ["inspect", str(tmp_path / "nothing")])
    assert result.exit_code == 2, result.output
    assert "run folder not found" in result.output
