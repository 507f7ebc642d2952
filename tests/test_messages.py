"""Messages a new user meets: each names the problem and the fix, on stderr, exit 2."""

from __future__ import annotations

import os
import signal

import pytest
from helpers import flat, runner

from bpcli import api
from bpcli.commands import app
from bpcli.runs.session import Listener
from bpcli.training.guard import TrainingInterrupted


def fails(*args: str) -> str:
    """The message of a command that must fail with exit 2 (no traceback)."""
    result = runner.invoke(app, list(map(str, args)))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    return flat(result.stderr)


FRUIT = "weight,color,grade\n" + "".join(f"{i},{i % 3},{'ab'[i % 2]}\n" for i in range(20))


@pytest.fixture
def fruit(tmp_path):
    path = tmp_path / "fruit.csv"
    path.write_text(FRUIT)
    return path


def test_data_given_as_a_string_says_it_must_be_a_mapping(write_config, fruit):
    message = fails("validate", write_config(f"data: {fruit}\n"))
    assert "config.yaml, line 1): must be a mapping" in message
    assert "{source: iris}" in message and "got " in message


@pytest.mark.parametrize(("separator", "named"), [(";", "';'"), ("\t", "tabs")])
def test_a_file_with_another_separator_says_which(separator, named, write_config, tmp_path):
    (tmp_path / "fruit.csv").write_text(FRUIT.replace(",", separator))
    message = fails("validate", write_config({"data": {"source": "fruit.csv"}}))
    assert "fruit.csv: found 1 column" in message
    assert f"is the file separated by {named}?" in message and "comma-separated" in message


def test_a_target_in_the_wrong_case_suggests_the_column(write_config, fruit):
    message = fails("validate", write_config({"data": {"source": str(fruit), "target": "Grade"}}))
    assert "data.target: column 'Grade' is not in" in message
    assert "did you mean 'grade'?" in message and "columns: weight, color, grade" in message


def test_an_id_column_is_named_with_the_fix(write_config, tmp_path):
    rows = "".join(f"r{i},{i},{'ab'[i % 2]}\n" for i in range(20))
    (tmp_path / "ids.csv").write_text("id,weight,grade\n" + rows)
    message = fails("validate", write_config({"data": {"source": "ids.csv"}}))
    assert "ids.csv, line 2: feature 'id' is 'r0', not a finite number" in message
    assert "if 'id' is an ID or text column, remove it from the file" in message


@pytest.mark.parametrize("command", ["eval", "inspect", "predict"])
def test_a_file_given_as_run_folder_is_called_a_file(command, fruit):
    message = fails(command, fruit)
    assert f"{fruit} is a file, not a run folder" in message
    assert "pass a folder written by bpcli train" in message


class StopAfterTwoEpochs(Listener):
    """Sends the process a real SIGINT after epoch 2, as Ctrl-C would."""

    def on_epoch(self, record: dict) -> None:
        if record["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("command", ["eval", "inspect"])
def test_an_interrupted_run_says_it_did_not_finish_and_how_to_resume(
    command, write_config, small_config, tmp_path
):
    run = tmp_path / "run"
    config = write_config(small_config(training={"epochs": 5}))
    with pytest.raises(TrainingInterrupted):
        api.train(config, out=run, listener=StopAfterTwoEpochs())
    message = fails(command, run)
    assert f"{run}: training did not finish" in message
    assert f"continue it with: bpcli train --resume {run}" in message
