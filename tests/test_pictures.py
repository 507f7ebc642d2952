"""Pictures as a person looks at them: size, labelled axes, not blank, the legend off the data, the
best epoch marked, the learning rate named, one boundary line between regions."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import flat, runner, train

pytest.importorskip("matplotlib", reason="bpcli plot needs the [plot] extra (matplotlib)")
from matplotlib.image import imread  # noqa: E402

from bpcli import api  # noqa: E402
from bpcli.commands import app  # noqa: E402
from bpcli.plots import boundary_cells, curves_figure, regions_figure  # noqa: E402

EARLY = "training.early_stopping={patience: 3, min_delta: 0.05}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pictures")
    return {
        "spirals": train("configs/spirals.yaml", root / "spirals", "training.epochs=40", EARLY),
        "moons": train("configs/moons.yaml", root / "moons", "training.epochs=5"),
        "sine": train("configs/sine.yaml", root / "sine", "training.epochs=3"),
    }


def looks_like_a_picture(path, width: int, height: int) -> np.ndarray:
    """A PNG of the expected size in pixels with something drawn on it."""
    pixels = imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.05  # not one flat colour
    return pixels


def legend_is_off_the_data(figure) -> None:
    figure.canvas.draw()
    (axes,) = figure.axes
    legend = axes.get_legend().get_window_extent()
    assert legend.x0 >= axes.get_window_extent().x1  # right of the axes, covering nothing


def test_learning_curves_mark_the_best_epoch(runs, tmp_path):
    best = api.load(runs["spirals"]).summary["best_epoch"]
    assert best is not None
    figure = curves_figure([runs["spirals"]], "loss")
    (axes,) = figure.axes
    assert (axes.get_xlabel(), axes.get_ylabel(), axes.get_title()) == (
        "epoch",
        "loss",
        "loss per epoch",
    )
    labels = axes.get_legend_handles_labels()[1]
    assert labels == ["spirals train", "spirals validation", f"spirals best epoch {best}"]
    marker = axes.get_lines()[-1]
    assert list(marker.get_xdata()) == [best, best] and marker.get_linestyle() == ":"
    legend_is_off_the_data(figure)
    out = tmp_path / "curves.png"
    assert runner.invoke(app, ["plot", str(runs["spirals"]), "-o", str(out)]).exit_code == 0
    looks_like_a_picture(out, 720, 400)


def test_a_run_without_early_stopping_has_no_best_epoch_mark(runs):
    (axes,) = curves_figure([runs["moons"]], "loss").axes
    assert not any("best epoch" in label for label in axes.get_legend_handles_labels()[1])


def test_the_learning_rate_is_named_as_such(runs):
    (axes,) = curves_figure([runs["moons"], runs["sine"]], "lr").axes
    assert axes.get_ylabel() == "learning rate" and axes.get_title() == "learning rate per epoch"
    assert axes.get_legend_handles_labels()[1] == ["moons", "sine"]  # no "train" curve


def test_runs_of_different_tasks_are_refused_on_one_axis(runs):
    result = runner.invoke(app, ["plot", str(runs["moons"]), str(runs["sine"])])
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert (
        "runs of different tasks do not share an axis: moons (classification), sine (regression)"
        in message
    )
    assert "plot the classifiers and the regression models separately" in message


def test_region_boundaries_are_one_cell_wide_whichever_classes_meet():
    regions = np.array([[0, 0, 2, 2, 1], [0, 0, 2, 2, 1], [0, 0, 0, 0, 0]])
    assert boundary_cells(regions).astype(int).tolist() == [
        [0, 0, 1, 0, 1],
        [0, 0, 1, 0, 1],
        [0, 0, 1, 1, 1],
    ]
    assert not boundary_cells(np.zeros((4, 4), dtype=int)).any()


def test_decision_regions_picture(runs, tmp_path):
    figure = regions_figure(api.load(runs["spirals"]), resolution=60)
    (axes,) = figure.axes
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("x0", "x1")
    edges = axes.collections[1].get_array()  # the boundary layer over the regions
    assert 0 < (~edges.mask).sum() < 0.2 * edges.size
    legend_is_off_the_data(figure)
    out = tmp_path / "regions.png"
    result = runner.invoke(app, ["plot", str(runs["spirals"]), "--boundary", "-o", str(out)])
    assert result.exit_code == 0, result.output
    pixels = looks_like_a_picture(out, 640, 500)
    dark = (pixels[..., :3].max(axis=2) < 0.2).mean()
    assert 0.001 < dark < 0.2  # boundary lines and point edges, not a black picture
