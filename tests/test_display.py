"""What a person sees while training, at 60, 80 and 120 columns: the live line, the start line, the
loss chart, numbers in significant digits, notes under --quiet."""

from __future__ import annotations

import io
import re

import pytest
from helpers import flat, runner
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from bpcli import api
from bpcli.commands import app
from bpcli.commands.render import (
    ProgressLine,
    TrainingDisplay,
    loss_chart,
    metrics_table,
    number,
    start_line,
)
from bpcli.runs.session import Listener

WIDTHS = (60, 80, 120)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def rendered(renderable, width: int) -> list[str]:
    """`renderable` as a fixed-width Rich console prints it, one string per screen line."""
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue().rstrip("\n").split("\n")


class Clock:
    """A clock the test moves by hand: `clock.now += 1.5`."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def a_line(metrics: list[str], title: str = "digits") -> ProgressLine:
    line = ProgressLine(title, 300, 0, now=0.0)
    line.done, line.now, line.metrics = 12, 3.0, metrics
    return line


METRICS = ["loss 0.005446", "val_loss 0.1162", "val_acc 0.9611"]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_epoch_counter_and_eta_are_never_cut(width):
    (text,) = rendered(a_line(METRICS), width)
    assert cell_len(text) <= width
    assert "epoch 12/300" in text and "ETA 1:12" in text  # 3 s for 12 of 300 epochs: 72 s left
    assert "…" not in text


def test_metrics_are_dropped_before_anything_else_and_the_bar_takes_the_rest():
    narrow, middle, wide = (rendered(a_line(METRICS), width)[0] for width in WIDTHS)
    assert "loss 0.005446" in narrow and "val_loss" not in narrow
    assert all(metric in wide for metric in METRICS)
    bars = [line.count("━") + line.count("╸") for line in (narrow, middle, wide)]
    assert bars[0] >= ProgressLine.MIN_BAR and bars[0] < bars[1] < bars[2]
    assert bars[2] > 16  # the old fixed bar width


def test_at_the_narrowest_only_counter_and_eta_remain():
    (text,) = rendered(a_line(METRICS, title="a-very-long-experiment-name"), 30)
    assert text == "epoch 12/300  ETA 1:12"


def filled(line: Text) -> int:
    """Cells of the bar drawn as done (the bar.complete style)."""
    return sum(span.end - span.start for span in line.spans if span.style == "bar.complete")


def test_batch_progress_moves_the_bar_within_an_epoch():
    line = ProgressLine("run", 2, 0, now=0.0)
    assert filled(line.render(60)) == 0 and "epoch 0/2" in line.render(60).plain
    line.batch = (1, 2)  # a quarter of the run
    during = line.render(60)
    assert "epoch 1/2 batch 1/2" in during.plain
    bar = during.plain.count("━") + during.plain.count("╸")
    assert filled(during) == pytest.approx(bar / 4, abs=0.5)


def test_a_finished_line_says_how_long_training_took():
    line = a_line(METRICS)
    line.finished, line.now = True, 65.0
    assert "took 1:05" in rendered(line, 80)[0]


def test_numbers_keep_significant_digits():
    assert number(1.8e-05) == "1.8e-05"
    assert number(0.005446123) == "0.005446"
    assert number(0.96111) == "0.9611"
    assert number(1.0) == "1"
    assert number(float("nan")) == "nan"
    table = "\n".join(rendered(metrics_table({"train": {"loss": 1.8e-05}}, "final"), 60))
    assert "1.8e-05" in table and "0.0000" not in table


class Recorder(Listener):
    def __init__(self):
        self.batches: list[tuple[int, int]] = []

    def on_batch(self, done: int, total: int) -> None:
        self.batches.append((done, total))


def test_the_session_reports_every_batch(write_config, small_config, tmp_path):
    recorder = Recorder()
    api.train(write_config(small_config()), out=tmp_path / "run", listener=recorder)
    # moons, 120 rows: 84 train rows in batches of 16 -> 6 batches, 3 epochs
    assert recorder.batches == [(b, 6) for b in range(1, 7)] * 3


def terminal(width: int) -> Console:
    return Console(
        file=io.StringIO(), width=width, force_terminal=True, color_system=None, _environ={}
    )


def screen_lines(console: Console) -> list[str]:
    """Every line the console wrote, control sequences removed (each redraw of the bar is a line)."""
    text = ANSI.sub("", console.file.getvalue())
    return [part for line in text.split("\n") for part in line.split("\r") if part.strip()]


def test_the_display_shows_batches_only_in_a_long_epoch_and_at_most_ten_times_a_second(
    write_config, small_config, tmp_path
):
    clock = Clock()
    display = TrainingDisplay(terminal(80), clock=clock)
    display.begin(api.validate(write_config(small_config())), tmp_path, 0)
    with display:
        display.on_batch(1, 100)  # the epoch has run for 0 s: no batch counter
        assert "batch" not in display.line.render(80).plain
        clock.now += 1.5
        display.on_batch(2, 100)
        assert "batch 2/100" in display.line.render(80).plain
        clock.now += 0.05  # within a tenth of a second of the last redraw: not redrawn
        display.on_batch(3, 100)
        assert "batch 2/100" in display.line.render(80).plain
        clock.now += 0.06
        display.on_batch(4, 100)
        assert "batch 4/100" in display.line.render(80).plain
        display.on_epoch({"epoch": 1, "loss": 0.5, "seconds": 1.6})
        assert "batch" not in display.line.render(80).plain


@pytest.mark.parametrize("width", WIDTHS)
def test_a_real_run_on_a_terminal_stays_within_the_width(
    width, write_config, small_config, tmp_path
):
    console = terminal(width)
    config = write_config(small_config(training={"epochs": 4}))
    run = api.train(config, out=tmp_path / "run", listener=TrainingDisplay(console))
    assert run.summary["epochs_run"] == 4
    lines = screen_lines(console)
    assert lines[0].startswith("config: 2-8-2 relu → softmax, 42 parameters; rows: 84 train")
    assert "adam lr 0.01, constant schedule" in flat(" ".join(lines[:2]))
    final = lines[-1]
    assert "epoch 4/4" in final and "took 0:0" in final and "loss" in final
    assert all(cell_len(line) <= width for line in lines)


def test_the_start_line_names_network_rows_optimizer_and_schedule(write_config, small_config):
    config = small_config(model={"hidden": [16, 8], "activation": "tanh"})
    config["optimizer"] = {"name": "sgd", "lr": 0.05, "schedule": "cosine"}
    experiment = api.validate(write_config(config))
    assert start_line(experiment) == (
        "config: 2-16-8-2 tanh → softmax, 202 parameters; rows: 84 train, 12 validation, 24 test; "
        "sgd lr 0.05, cosine schedule"
    )


def test_without_a_terminal_each_epoch_is_one_plain_line(write_config, small_config, tmp_path):
    console = Console(file=io.StringIO(), width=60, color_system=None)
    api.train(write_config(small_config()), out=tmp_path / "run", listener=TrainingDisplay(console))
    lines = console.file.getvalue().splitlines()
    assert len(lines) == 4 and lines[0].startswith("config: 2-8-2 relu")
    assert [line.split("  ")[0] for line in lines[1:]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "\x1b" not in console.file.getvalue()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_loss_chart_fits_the_terminal(width):
    epochs = [{"epoch": e, "loss": 2.0 / e**2} for e in range(1, 201)]
    lines = rendered(loss_chart(epochs, columns=width), width)
    assert len(lines) == 9  # title, 6 rows, axis line, epoch labels: nothing wrapped
    assert all(cell_len(line) <= width for line in lines)
    assert lines[-1].rstrip().endswith("200") and "epoch 1" in lines[-1]
    assert lines[1].startswith("    2 │") and "5e-05 │" in lines[6]


def test_train_prints_the_start_line_and_the_chart_within_the_width(tmp_path):
    args = ["train", "configs/xor.yaml", "-o", str(tmp_path / "xor"), "--set", "training.epochs=60"]
    result = runner.invoke(app, args, env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert (
        lines[0]
        == "xor: 2-2-1 sigmoid → sigmoid, 9 parameters; rows: 4 train; adam lr 0.1, constant schedule"
    )
    chart = lines[lines.index("loss per epoch") : lines.index("loss per epoch") + 9]
    assert all(cell_len(line) <= 60 for line in chart)


def test_quiet_silences_the_start_line_and_the_notes(tmp_path):
    run = tmp_path / "iris"
    args = ["train", "configs/iris.yaml", "--out", str(run), "--set", "training.epochs=3"]
    assert runner.invoke(app, [*args, "-q"]).exit_code == 0
    resumed = runner.invoke(app, ["train", "--resume", str(run), "-q", "--set", "optimizer.lr=0.5"])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stderr == "" and resumed.stdout.strip() == str(run)
    loud = runner.invoke(app, ["train", "--resume", str(run), "--set", "training.epochs=5"])
    assert "resuming" in loud.stderr


def resume_notes(run, *overrides: str) -> str:
    args = ["train", "--resume", str(run)]
    for override in overrides:
        args += ["--set", override]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stderr


@pytest.mark.parametrize(
    ("schedule", "overrides", "differs"),
    [
        ("constant", ["training.epochs=6"], False),
        ("step", ["training.epochs=6"], False),
        ("cosine", ["training.epochs=6"], True),  # cosine's rates depend on the epoch count
        ("constant", ["training.epochs=6", "optimizer.lr=0.02"], True),
    ],
)
def test_the_resume_note_appears_only_when_the_result_differs(
    schedule, overrides, differs, write_config, small_config, tmp_path
):
    config = small_config()
    config["optimizer"]["schedule"] = schedule
    run = tmp_path / "run"
    api.train(write_config(config), out=run)
    notes = resume_notes(run, *overrides)
    assert ("result will differ from an uninterrupted run" in notes) is differs
    assert "resuming" in notes


@pytest.mark.parametrize("width", WIDTHS)
def test_inspect_fits_the_terminal_without_cutting_numbers(width, iris_run):
    result = runner.invoke(app, ["inspect", str(iris_run)], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "…" not in result.stdout
    assert all(cell_len(line) <= width for line in lines)
    header = next(line for line in lines if "‖ΔW‖/‖W‖" in line)
    assert header.split() == ["layer", "‖∇W‖", "first", "‖∇W‖", "‖ΔW‖/‖W‖", "dead", "saturated"]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", [["gradcheck", "configs/iris.yaml"], ["eval"]])
def test_gradcheck_and_eval_tables_fit_without_cutting_numbers(command, width, iris_run):
    args = command if command[0] == "gradcheck" else [*command, str(iris_run)]
    result = runner.invoke(app, args, env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    table_lines = [line for line in result.stderr.splitlines() if "│" in line or "  " in line]
    assert table_lines and "…" not in result.stderr
    assert all(cell_len(line) <= width for line in table_lines)
