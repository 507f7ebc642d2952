"""`bpcli plot` (learning curves, decision regions) and the terminal loss chart after training."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from bpcli.commands import app
from bpcli.commands.render import loss_chart, resample

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_picture(path):
    """A real PNG with something drawn on it (pixels differ), not a blank canvas."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
    assert pixels[..., :3].std() > 0.05
    return pixels


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Small trained runs: moons (2 features, twice) and iris (4 features)."""
    root = tmp_path_factory.mktemp("runs")
    made = {}
    for name, config, overrides in [
        ("moons", "moons", ["training.epochs=8"]),
        ("moons_sgd", "moons", ["training.epochs=8", "optimizer.name=sgd", "optimizer.lr=0.1"]),
        ("iris", "iris", ["training.epochs=3"]),
        ("sine", "sine", ["training.epochs=3"]),
    ]:
        args = ["train", f"configs/{config}.yaml", "--out", str(root / name), "--quiet"]
        result = runner.invoke(app, args + [x for o in overrides for x in ("--set", o)])
        assert result.exit_code == 0, result.output
        made[name] = root / name
    return made


def test_learning_curves_of_one_run_go_into_the_run_folder(runs):
    result = runner.invoke(app, ["plot", str(runs["moons"])])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(runs["moons"] / "curves.png")
    assert_picture(runs["moons"] / "curves.png")


def test_learning_curves_of_several_runs_in_one_picture(runs, tmp_path):
    out = tmp_path / "accuracy.png"
    args = [
        "plot",
        str(runs["moons"]),
        str(runs["moons_sgd"]),
        "--metric",
        "accuracy",
        "-o",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert_picture(out)


def test_svg_output(runs, tmp_path):
    out = tmp_path / "curves.svg"
    result = runner.invoke(app, ["plot", str(runs["iris"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().lstrip().startswith("<?xml")


def test_decision_boundary_of_a_two_feature_run(runs, tmp_path):
    out = tmp_path / "boundary.png"
    result = runner.invoke(app, ["plot", str(runs["moons"]), "--boundary", "-o", str(out)])
    assert result.exit_code == 0, result.output
    pixels = assert_picture(out)
    colours = {tuple(p) for p in (pixels[::8, ::8, :3] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 5  # two regions, points, boundary line, axes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["iris", "--boundary"], "needs 2 input features"),
        (["sine", "--boundary"], "regression"),
        (["moons", "moons_sgd", "--boundary"], "one run at a time"),
        (["moons", "--metric", "f1"], "available: "),
        (["moons", "--metric", "val_loss"], "available: "),
        (["moons", "-o", "curves.jpg"], "cannot write a '.jpg' picture"),
        (["moons", "-o", "no/such/folder/x.png"], "does not exist"),
    ],
)
def test_plot_mistakes_are_one_message_and_exit_2(runs, args, message):
    named = [str(runs[a]) if a in runs else a for a in args]
    result = runner.invoke(app, ["plot", *named])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())  # Rich wraps long lines
    assert "Traceback" not in result.output


def test_plot_of_a_folder_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "is not a run folder" in " ".join(result.output.split())


def test_without_matplotlib_plot_says_how_to_install_it(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    result = runner.invoke(app, ["plot", str(runs["moons"])])
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0
    assert 'pip install "bpcli[plot]"' in result.output


def test_train_shows_the_loss_chart_on_stderr_only(tmp_path):
    args = [
        "train",
        "configs/xor.yaml",
        "--out",
        str(tmp_path / "xor"),
        "--set",
        "training.epochs=50",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "loss per epoch" in result.stderr
    assert "loss per epoch" not in result.stdout
    quiet = runner.invoke(app, [*args, "--force", "--quiet"])
    assert "loss per epoch" not in quiet.output


def test_loss_chart_draws_a_falling_curve():
    chart = loss_chart([{"epoch": e, "loss": 1.0 / e} for e in range(1, 11)], columns=25, height=4)
    lines = chart.splitlines()
    plot = [line.split("│", 1)[1] for line in lines[1:5]]
    assert lines[1].strip().startswith("1 │") and lines[4].startswith("0.1 │")
    assert plot[0][0] == "█" and plot[0][-1] == " "  # tall at the start, low at the end
    assert all(ch != " " for ch in plot[-1])  # the minimum still shows a sliver
    assert "epoch 1" in lines[-1] and lines[-1].rstrip().endswith("10")


def test_loss_chart_switches_to_log_scale_over_two_decades():
    falling = [{"epoch": e, "loss": 10.0**-e} for e in range(1, 5)]
    chart = loss_chart(falling, columns=12, height=3)
    assert chart.splitlines()[0] == "loss per epoch (log scale)"
    middle = [line.split("│", 1)[1] for line in chart.splitlines()[1:4]]
    assert [column.count(" ") for column in zip(*middle, strict=True)] == [0, 1, 1, 2]  # even steps
    assert "log scale" not in loss_chart([{"loss": 2.0}, {"loss": 1.0}])


def test_loss_chart_needs_two_finite_points():
    assert loss_chart([{"epoch": 1, "loss": 0.5}]) == ""
    assert loss_chart([{"epoch": 1, "loss": float("nan")}, {"epoch": 2, "loss": 1.0}]) == ""


def test_resample_keeps_the_shape_within_the_width():
    assert resample([1.0, 2.0], 6) == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    squeezed = resample(list(np.arange(100.0)), 10)
    assert len(squeezed) == 10 and squeezed == sorted(squeezed)
    assert squeezed[0] == pytest.approx(4.5)


def test_boundary_of_a_warm_started_run_whose_source_weights_are_gone(runs, tmp_path):
    """A run's data is rebuilt without its model.init_from: the source may be deleted later."""
    source = tmp_path / "source.npz"
    source.write_bytes((runs["moons"] / "weights.npz").read_bytes())
    warm = tmp_path / "warm"
    args = ["train", "configs/moons.yaml", "--out", str(warm), "-q", "--set", "training.epochs=2"]
    result = runner.invoke(app, [*args, "--set", f"model.init_from={source}"])
    assert result.exit_code == 0, result.output
    source.unlink()
    result = runner.invoke(app, ["plot", str(warm), "--boundary", "-o", str(tmp_path / "b.png")])
    assert result.exit_code == 0, result.output
    assert_picture(tmp_path / "b.png")
