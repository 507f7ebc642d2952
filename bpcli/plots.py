"""Pictures of saved runs: learning curves from the per-epoch metrics, decision regions of 2-feature
classifiers, and a sweep's metric against each swept parameter.

matplotlib is an optional extra (`pip install "bpcli[plot]"`), imported only here and only when a
picture is drawn. Figures are built with the object API (no pyplot, no global backend switch) and
rendered by the Agg canvas, then written atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from bpcli.config import value_text
from bpcli.core.metrics import predicted_classes
from bpcli.errors import BpcliError, MissingExtra, RunError
from bpcli.runs.atomic import atomic_write
from bpcli.runs.folder import RunFolder, SweepFolder

FORMATS = ("png", "svg", "pdf")
NOT_METRICS = ("epoch",)
CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
"""Point colors per class; the regions use the same hues, lightened."""


def require_matplotlib() -> None:
    """MissingExtra (one line: how to install it) when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingExtra('bpcli plot needs matplotlib: pip install "bpcli[plot]"') from None


def new_figure(width: float, height: float):
    """A matplotlib Figure drawn by the Agg canvas (no pyplot, no global backend switch)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path: Path) -> Path:
    """Render to PNG/SVG/PDF (by the file suffix) and write the file atomically."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise BpcliError(
            f"-o {path}: cannot write a '{path.suffix}' picture",
            f"use one of: .{', .'.join(FORMATS)}",
        )
    if not path.parent.is_dir():
        raise BpcliError(f"-o {path}: folder {path.parent} does not exist")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=kind)
    atomic_write(path, buffer.getvalue())
    return path


# ---------------------------------------------------------------------------- learning curves


def metric_columns(run_dir: Path) -> dict[str, list[float]]:
    """A run's per-epoch metrics as columns of floats (missing cells become NaN)."""
    folder = RunFolder(run_dir).require()
    records = folder.read_metrics()
    if not records:
        raise RunError(f"{folder.metrics_file()}: not a readable metrics file (empty)")
    try:
        return {key: [_number(r.get(key)) for r in records] for key in records[0]}
    except ValueError as error:
        raise RunError(f"{folder.metrics_file()}: not a readable metrics file ({error})") from None


def _number(cell: str | None) -> float:
    return float(cell) if cell not in (None, "") else math.nan


TITLES = {"lr": "learning rate"}
"""Axis names of the recorded columns that are not named as they read."""


def learning_curves(run_dirs: list[Path], metric: str, out: Path) -> Path:
    """curves_figure written to `out` (.png, .svg or .pdf)."""
    return save_figure(curves_figure(run_dirs, metric), out)


def curves_figure(run_dirs: list[Path], metric: str):
    """Train (solid) and validation (dashed) `metric` per epoch, one colour per run, in one figure;
    a dotted line marks each run's best epoch where its weights were restored from it (early
    stopping)."""
    runs = [(Path(d), metric_columns(d)) for d in run_dirs]
    for run_dir, columns in runs:
        if metric not in columns or metric in NOT_METRICS or metric.startswith("val_"):
            available = [c for c in columns if c not in NOT_METRICS and not c.startswith("val_")]
            raise RunError(
                f"--metric {metric}: not recorded in {RunFolder(run_dir).metrics_file()}",
                f"available: {', '.join(available)} (validation curves are drawn with them)",
            )
    if metric != "lr":
        _same_task(run_dirs, metric)
    figure = new_figure(7.2, 4.0)
    axes = figure.add_subplot()
    for index, (run_dir, columns) in enumerate(runs):
        _draw_run(axes, run_dir, columns, metric, f"C{index % 10}")
    name = TITLES.get(metric, metric)
    axes.set_xlabel("epoch")
    axes.set_ylabel(name)
    if metric == "loss" and _spans_decades(runs, metric):
        axes.set_yscale("log")
    axes.set_title(f"{name} per epoch")
    axes.grid(alpha=0.3)
    _legend_beside(axes)
    return figure


def _draw_run(axes, run_dir: Path, columns: dict, metric: str, color: str) -> None:
    """One run's curves: train solid, validation dashed, its best epoch dotted (if it has one)."""
    label = run_dir.resolve().name
    train = label if metric == "lr" else f"{label} train"
    axes.plot(columns["epoch"], columns[metric], color=color, label=train)
    validation = columns.get(f"val_{metric}")
    if validation and not all(math.isnan(v) for v in validation):
        axes.plot(
            columns["epoch"], validation, color=color, linestyle="--", label=f"{label} validation"
        )
    best = best_epoch(run_dir)
    if best is not None:
        axes.axvline(best, color=color, linestyle=":", label=f"{label} best epoch {best}")


def best_epoch(run_dir: Path) -> int | None:
    """The best epoch when the run's weights were restored from it (early stopping, restore_best),
    from the finished run's summary (see training.loop.BestRule); None when the weights are the last
    epoch's, or before the run finished."""
    folder = RunFolder(run_dir)
    if not folder.finished:
        return None
    summary = folder.read_summary()
    best, kept = summary.get("best_epoch"), summary.get("weights_epoch")
    restored = best is not None and kept == best and best != summary.get("epochs_run")
    return best if restored else None


def _same_task(run_dirs: list[Path], metric: str) -> None:
    """A RunError when classifiers and regression models would share one axis."""
    kinds = {
        Path(d): "regression"
        if RunFolder(d).read_preprocess().task == "regression"
        else "classification"
        for d in run_dirs
    }
    if len(set(kinds.values())) > 1:
        listed = ", ".join(f"{d.name} ({kind})" for d, kind in kinds.items())
        raise RunError(
            f"--metric {metric}: runs of different tasks do not share an axis: {listed}",
            "plot the classifiers and the regression models separately",
        )


def _legend_beside(axes, **options) -> None:
    """The legend right of the axes, off the data (the constrained layout makes room for it)."""
    axes.legend(
        fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, **options
    )


def _spans_decades(runs, metric: str) -> bool:
    """True when the curves span more than two decades and are positive: a log scale reads better."""
    values = [v for _, c in runs for key in (metric, f"val_{metric}") for v in c.get(key, [])]
    values = [v for v in values if math.isfinite(v)]
    return bool(values) and min(values) > 0 and max(values) / min(values) > 100


# ---------------------------------------------------------------------------- decision regions


def boundary_data(loaded) -> dict:
    """The run's own data (runs.data.rebuild): raw features and class indices per split."""
    data = loaded.splits()
    return {
        name: (data.preprocess.restore(split.X), _class_indices(split.Y, loaded.preprocess.task))
        for name, split in data.splits.items()
        if len(split)
    }


def _class_indices(Y: np.ndarray, task: str) -> np.ndarray:
    return Y.astype(int) if task == "classification" else Y[:, 0].astype(int)


def region_grid(loaded, low: np.ndarray, high: np.ndarray, resolution: int):
    """Grid axes xs, ys and the predicted class index (resolution, resolution) over [low, high]."""
    xs = np.linspace(low[0], high[0], resolution)
    ys = np.linspace(low[1], high[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    points = np.c_[gx.ravel(), gy.ravel()]
    Yhat = loaded.outputs(points)
    classes = predicted_classes(Yhat, loaded.preprocess.task)
    return xs, ys, classes.reshape(gx.shape)


def boundary_cells(regions: np.ndarray) -> np.ndarray:
    """True where a grid cell's class differs from its neighbour's on the left or below: every
    boundary is one cell wide, whichever classes meet (a contour of the class index would draw the
    boundary between classes 0 and 2 twice, at levels 0.5 and 1.5)."""
    edges = np.zeros(regions.shape, dtype=bool)
    edges[:, 1:] |= regions[:, 1:] != regions[:, :-1]
    edges[1:, :] |= regions[1:, :] != regions[:-1, :]
    return edges


def decision_boundary(loaded, out: Path, resolution: int = 300) -> Path:
    """regions_figure written to `out` (.png, .svg or .pdf)."""
    return save_figure(regions_figure(loaded, resolution), out)


def regions_figure(loaded, resolution: int = 300):
    """The decision regions of a 2-feature classifier over its data points (train o, held-out X)."""
    from matplotlib.colors import ListedColormap, to_rgb

    prep = loaded.preprocess
    if prep.task == "regression":
        raise RunError(
            f"{loaded.path}: --boundary draws decision regions, this run is a regression",
            "plot its learning curves instead: bpcli plot RUN_DIR",
        )
    if len(prep.feature_names) != 2 or prep.categories:
        categorical = f" ({len(prep.categories)} categorical)" if prep.categories else ""
        raise RunError(
            f"{loaded.path}: --boundary needs 2 input features, both numeric, this run has "
            f"{len(prep.feature_names)}{categorical}",
            "decision regions can be drawn for xor, moons, circles, spirals, blobs "
            "(n_features: 2) or any 2-feature CSV",
        )
    data = boundary_data(loaded)
    every = np.concatenate([X for X, _ in data.values()])
    low, high = every.min(axis=0), every.max(axis=0)
    margin = 0.1 * np.maximum(high - low, 1e-9)
    xs, ys, regions = region_grid(loaded, low - margin, high + margin, resolution)
    count = len(prep.classes)
    colors = [CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(count)]
    light = ListedColormap([tuple(0.65 + 0.35 * np.array(to_rgb(c))) for c in colors])
    figure = new_figure(6.4, 5.0)
    axes = figure.add_subplot()
    axes.pcolormesh(xs, ys, regions, cmap=light, vmin=-0.5, vmax=count - 0.5, shading="auto")
    edges = boundary_cells(regions)
    axes.pcolormesh(
        xs, ys, np.ma.masked_where(~edges, edges), cmap=ListedColormap(["k"]), shading="auto"
    )
    _scatter(axes, data, prep.classes, colors)
    axes.set_xlabel(prep.feature_names[0])
    axes.set_ylabel(prep.feature_names[1])
    axes.set_title(f"{loaded.path.resolve().name}: decision regions")
    return figure


def _scatter(axes, data: dict, classes: list, colors: list[str]) -> None:
    for split, (X, labels) in data.items():
        marker = "o" if split == "train" else "X"
        for index, name in enumerate(classes):
            chosen = labels == index
            if chosen.any():
                axes.scatter(
                    X[chosen, 0],
                    X[chosen, 1],
                    s=22 if split == "train" else 40,
                    c=colors[index],
                    marker=marker,
                    edgecolors="k",
                    linewidths=0.5,
                    label=f"{name}" if split == "train" else None,
                )
    _legend_beside(axes, title="class (X: held out)")


# ---------------------------------------------------------------------------- sweeps


def sweep_panels(sweep_dir: Path, metric: str | None, out: Path | None) -> Path:
    """One panel per swept parameter: each point's mean `metric` (default: the sweep's) over its
    seeds and folds against the parameter's value, ± std as error bars; numbers on a numeric axis
    (logarithmic when they span over two decades), other values as categories."""
    folder = SweepFolder(sweep_dir).require()
    summary = folder.read_summary()
    metric = metric or summary["metric"]
    points = [p for p in summary["points"] if p["metrics"]]
    available = sorted({name for p in points for name in p["metrics"]})
    if metric not in available:
        raise RunError(
            f"--metric {metric}: no finished point of {folder.path} has it",
            f"available: {', '.join(available)}"
            if available
            else "no point finished all its trials",
        )
    if not summary["params"]:
        raise RunError(
            f"{folder.path}: the sweep varies no parameter (only seeds or folds)",
            f"see its results with: bpcli runs {folder.path}",
        )
    figure = new_figure(4.0 * len(summary["params"]), 3.6)
    for index, key in enumerate(summary["params"], start=1):
        axes = figure.add_subplot(1, len(summary["params"]), index)
        values = [p["params"][key] for p in points]
        means = [p["metrics"][metric]["mean"] for p in points]
        stds = [p["metrics"][metric]["std"] for p in points]
        x = _place(axes, values)
        axes.errorbar(x, means, yerr=stds, fmt="o", capsize=3, color="C0")
        axes.set_xlabel(key)
        axes.set_ylabel(f"{metric} (mean ± std)")
        axes.grid(alpha=0.3)
    figure.suptitle(f"{folder.path.resolve().name}: {metric} ({summary['mode']}) per swept value")
    return save_figure(figure, out or folder.plot_file)


def _numeric(values: list) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _place(axes, values: list) -> list:
    """The x positions of `values`: the numbers themselves (a log axis where positive numbers span
    decades), or for other values the index of their text among the sorted distinct texts."""
    if _numeric(values):
        if min(values) > 0 and max(values) / min(values) > 100:
            axes.set_xscale("log")
        return values
    labels = sorted(set(map(value_text, values)))
    axes.set_xticks(range(len(labels)), labels)
    return [labels.index(value_text(v)) for v in values]
