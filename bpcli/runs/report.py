"""What a saved run is made of, as a report (a dict, JSON-ready) for `bpcli inspect`.

The report gathers the config summary, parameters per layer, final metrics, the best epoch, the
backward-pass diagnostics and the run's files; commands/render.py draws it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bpcli.runs.run import Run
from bpcli.training import diagnostics


def build_report(run_dir: str | Path) -> dict:
    """Everything `bpcli inspect` shows about a run folder (raises RunError for a broken folder)."""
    loaded = Run.load(run_dir)
    return {
        "name": loaded.summary.get("name", loaded.config.name),
        "path": str(loaded.path.resolve()),
        "task": loaded.preprocess.task,
        "config": config_summary(loaded),
        "layers": layer_table(loaded.network),
        "parameters": loaded.network.parameter_count(),
        "metrics": loaded.summary.get("metrics", {}),
        "training": training_summary(loaded),
        "diagnostics": diagnostics_summary(loaded.folder.read_diagnostics()),
        "files": loaded.folder.listing(),
    }


def config_summary(loaded) -> dict[str, str]:
    config, prep = loaded.config, loaded.preprocess
    data, model, opt, training = config.data, config.model, config.optimizer, config.training
    source = Path(data.source).name if "/" in data.source or "\\" in data.source else data.source
    schedule = "" if opt.schedule.name == "constant" else f", schedule {opt.schedule.name}"
    decay = f", weight_decay {opt.weight_decay:g}" if opt.weight_decay else ""
    stopping = ", early stopping" if training.early_stopping else ""
    return {
        "data": f"{source}: {len(prep.feature_names)} features -> {prep.target_name} "
        f"({prep.task}); validation {data.validation_split:g}, test {data.test_split:g}"
        f"{', standardized' if data.standardize else ''}"
        f"{', targets standardized' if prep.target_std is not None else ''}",
        "model": f"{'-'.join(map(str, loaded.network.widths))}, {model.activation} hidden, "
        f"{model.output_activation} output, init {model.init}",
        "loss": config.loss,
        "optimizer": f"{opt.name}, lr {opt.lr:g}{schedule}{decay}",
        "training": f"{training.epochs} epochs, batch {training.batch_size}, {training.dtype}, "
        f"seed {config.seed}{stopping}",
    }


def layer_table(network) -> list[dict]:
    """Per layer: shape of W, activation, parameter count (W and b) and the norms of W."""
    return [
        {
            "layer": number,
            "shape": list(layer.W.shape),
            "activation": layer.activation.name,
            "parameters": layer.W.size + layer.b.size,
            "weight_norm": float(np.linalg.norm(layer.W)),
            "weight_rms": float(np.sqrt(np.mean(np.square(layer.W, dtype=np.float64)))),
        }
        for number, layer in enumerate(network.layers, start=1)
    ]


def training_summary(loaded) -> dict:
    """Epochs run, wall time, the best epoch as the run's summary records it (training.loop's
    BestRule: early stopping's monitor, else val_loss or loss), the monitored metric's value at the
    last epoch (from metrics.csv), and the epoch of the saved weights."""
    summary = loaded.summary
    result = {
        "epochs_run": summary.get("epochs_run"),
        "stopped_early": summary.get("stopped_early", False),
        "wall_time_s": summary.get("wall_time_s"),
        "best_epoch": summary.get("best_epoch"),
        "best_by": summary.get("best_metric"),
        "best_value": summary.get("best_value"),
        "last_value": None,
        "weights_epoch": summary.get("weights_epoch"),
    }
    records = loaded.folder.read_metrics()
    if records and records[-1].get(result["best_by"] or ""):
        result["last_value"] = float(records[-1][result["best_by"]])
    return result


def diagnostics_summary(rows: list[dict] | None) -> dict | None:
    """The last epoch's row per layer and every warning; None when diagnostics were off."""
    if rows is None:
        return None
    if not rows:
        return {"last_epoch": None, "layers": [], "alerts": []}
    last = max(row["epoch"] for row in rows)
    first = min(row["epoch"] for row in rows)
    first_norms = {row["layer"]: row["grad_norm"] for row in rows if row["epoch"] == first}
    layers = [
        {**row, "first_grad_norm": first_norms.get(row["layer"])}
        for row in rows
        if row["epoch"] == last
    ]
    return {
        "last_epoch": last,
        "layers": layers,
        "alerts": [
            {
                "kind": a.kind,
                "epoch": a.epoch,
                "layer": a.layer,
                "message": a.message,
                "hint": a.hint,
            }
            for a in diagnostics.alerts(rows)
        ],
    }
