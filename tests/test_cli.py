"""The command line: results on stdout, messages on stderr, exit codes, help with examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bpcli import __version__
from bpcli.commands import app

runner = CliRunner()
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"bpcli {__version__}"


def test_no_arguments_shows_help():
    result = invoke()
    assert "train" in result.output and "validate" in result.output


def test_main_help_has_an_example():
    result = invoke("--help")
    assert result.exit_code == 0 and "bpcli train configs/digits.yaml" in result.output


@pytest.mark.parametrize(
    "command", sorted(c.name or c.callback.__name__ for c in app.registered_commands)
)
def test_every_command_help_has_an_example(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and f"bpcli {command}" in result.output


def test_train_prints_only_the_run_folder_on_stdout(write_config, small_config, tmp_path):
    result = invoke("train", write_config(small_config()), "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "run")
    assert "epoch 3/3" in result.stderr and "final metrics" in result.stderr


def test_train_without_a_terminal_prints_one_plain_line_per_epoch(
    write_config, small_config, tmp_path
):
    result = invoke("train", write_config(small_config()), "--out", tmp_path / "run")
    epoch_lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 3
    assert "\x1b[" not in result.stderr


def test_train_quiet_prints_nothing_but_the_path(write_config, small_config, tmp_path):
    result = invoke("train", write_config(small_config()), "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.strip() == str(tmp_path / "run")


def test_train_json_prints_the_summary(write_config, small_config, tmp_path):
    result = invoke(
        "train", write_config(small_config()), "--out", tmp_path / "run", "--json", "-q"
    )
    summary = json.loads(result.stdout)
    assert summary == json.loads((tmp_path / "run" / "summary.json").read_text())


def test_default_run_folder_lives_under_output_dir(write_config, small_config, tmp_path):
    config = write_config(small_config(name="demo", output={"dir": str(tmp_path / "runs")}))
    result = invoke("train", config, "-q")
    path = Path(result.stdout.strip())
    assert path.parent == tmp_path / "runs" and path.name.startswith("demo-")


def test_set_overrides_reach_training(write_config, small_config, tmp_path):
    result = invoke(
        "train",
        write_config(small_config()),
        "--out",
        tmp_path / "r",
        "-q",
        "--set",
        "training.epochs=2",
        "--set",
        "model.hidden=[4, 3]",
    )
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert saved["training"]["epochs"] == 2 and saved["model"]["hidden"] == [4, 3]


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["--set", "optimizer.lr=-1"], "optimizer.lr"),
        (["--set", "model.activaton=relu"], "did you mean 'activation'"),
        (["--set", "training.epochs=lots"], "training.epochs"),
        (["--set", "data={source: nowhere.csv}"], "file not found"),
        (
            ["--set", "loss=binary_cross_entropy", "--set", "data={source: iris}"],
            "exactly 2 classes",
        ),
    ],
)
def test_user_errors_exit_2_with_a_message_and_no_traceback(
    write_config, small_config, tmp_path, overrides, words
):
    result = invoke("train", write_config(small_config()), "--out", tmp_path / "r", *overrides)
    assert result.exit_code == 2, result.output
    assert words in result.stderr and result.stderr.startswith("error:")
    assert "Traceback" not in result.output and result.stdout == ""
    assert not (tmp_path / "r").exists()


def test_text_feature_in_csv_exits_2(write_config, small_config, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,y\n1,x,0\n2,3,1\n")
    result = invoke("train", write_config(small_config()), "--set", "data={source: d.csv}")
    assert result.exit_code == 2 and "feature 'b'" in result.stderr


def test_validate_prints_the_resolved_config(tmp_path):
    result = invoke("validate", CONFIGS / "iris.yaml", "--set", "optimizer.lr=0.5")
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.stdout)
    assert resolved["optimizer"]["lr"] == 0.5
    assert resolved["model"]["output_activation"] == "softmax"
    assert "config ok" in result.stderr and "4-16-3" in result.stderr


def test_validate_reports_errors():
    result = invoke("validate", CONFIGS / "iris.yaml", "--set", "loss=mse")
    assert result.exit_code == 2 and "holds text" in result.stderr


def test_python_dash_m_works_like_the_entry_point(write_config, small_config, tmp_path):
    command = [
        sys.executable,
        "-m",
        "bpcli",
        "train",
        str(write_config(small_config())),
        "--out",
        str(tmp_path / "run"),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(tmp_path / "run")
    assert "epoch 1/3" in completed.stderr
    version = subprocess.run(
        [sys.executable, "-m", "bpcli", "--version"], capture_output=True, text=True
    )
    assert version.stdout.strip() == f"bpcli {__version__}"
