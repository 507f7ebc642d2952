"""`bpcli runs`: the run folders under a folder (recursively, sweep trials included) as rows: the run's
path, name, task, status, final validation and test metrics, epochs, seconds, and for a sweep trial
the values of its swept parameters; sorted best first by a metric when asked.
"""

from __future__ import annotations

import math
from pathlib import Path

from bpcli.core.metrics import LOWER_IS_BETTER, flatten_metrics
from bpcli.errors import BpcliError, RunError
from bpcli.runs.folder import RunFolder, SweepFolder, find_run_folders, find_sweep_folders

ASCENDING = {"run", "name", "task", "status", "seconds"}
"""Sort keys whose smallest value comes first (with the metrics in LOWER_IS_BETTER)."""


def list_runs(root: str | Path, sort: str | None = None) -> list[dict]:
    """A row per run folder under `root`; sorted by `sort` (best first) when given."""
    root = Path(root)
    if not root.is_dir():
        raise RunError(f"{root}: not a folder", "pass a folder that holds run folders")
    params = swept_params(root)
    rows = [run_row(root, path, params.get(path.resolve(), {})) for path in find_run_folders(root)]
    return sort_rows(rows, sort) if sort else rows


def swept_params(root: Path) -> dict[Path, dict[str, str]]:
    """Run folder -> {swept key: value} for every sweep trial under `root`, from the trials tables."""
    found = {}
    for path in find_sweep_folders(root):
        sweep = SweepFolder(path)
        keys = sweep.read_summary().get("params", [])
        for row in sweep.read_trials():
            found[(path / row["run"]).resolve()] = {key: row.get(key, "") for key in keys}
    return found


def run_row(root: Path, path: Path, params: dict) -> dict:
    """One run folder as a row; an unreadable one says so instead of stopping the listing."""
    folder = RunFolder(path)
    row = {"run": str(path.relative_to(root)) if path != root else str(path)}
    try:
        config = folder.read_config()
        row.update(name=config.name, task=folder.read_preprocess().task)
        if folder.finished:
            summary = folder.read_summary()
            metrics = flatten_metrics(summary["metrics"])
            row.update(status="finished", **without_train(metrics))
            row.update(epochs=summary["epochs_run"], seconds=summary["wall_time_s"])
        else:
            row.update(status="unfinished", epochs=len(folder.read_metrics()))
    except (BpcliError, KeyError, TypeError) as error:
        row.update(status="unreadable", message=str(error))
    row["params"] = params
    return row


def without_train(metrics: dict) -> dict:
    return {name: value for name, value in metrics.items() if not name.startswith("train_")}


def sort_rows(rows: list[dict], key: str) -> list[dict]:
    """Rows best first by `key` (smallest first for losses, errors, seconds and names; largest first
    for the other metrics); rows without it last."""
    available = sorted({k for row in rows for k in row if k not in ("params", "message")})
    if key not in available:
        raise RunError(
            f"--sort {key}: no run has it",
            f"sort by one of: {', '.join(available)}" if available else "there are no runs here",
        )
    ascending = key in ASCENDING or key.split("_", 1)[-1] in LOWER_IS_BETTER
    present = [row for row in rows if _sortable(row.get(key))]
    missing = [row for row in rows if not _sortable(row.get(key))]
    return sorted(present, key=lambda row: row[key], reverse=not ascending) + missing


def _sortable(value) -> bool:
    return isinstance(value, str) or (isinstance(value, (int, float)) and math.isfinite(value))
