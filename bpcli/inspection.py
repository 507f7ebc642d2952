"""`bpcli inspect`: what a saved run is made of, as a report (a dict, JSON-ready) and its Rich rendering.

The report gathers the config summary, parameters per layer, final metrics, the best epoch, the
backward-pass diagnostics (diagnostics.csv) and the run's files; `render` turns it into Rich tables.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bpcli import diagnostics
from bpcli.runs import read_metrics


def build_report(run_dir: str | Path) -> dict:
    """Everything `bpcli inspect` shows about a run folder (raises RunError for a broken folder)."""
    from bpcli.runs import LoadedRun

    loaded = LoadedRun(run_dir)
    return {
        "name": loaded.summary.get("name", loaded.config.name),
        "path": str(loaded.path.resolve()),
        "task": loaded.preprocess.task,
        "config": config_summary(loaded),
        "layers": layer_table(loaded.network),
        "parameters": loaded.network.parameter_count(),
        "metrics": loaded.summary.get("metrics", {}),
        "training": training_summary(loaded),
        "diagnostics": diagnostics_summary(loaded.path),
        "files": [
            {"name": f.name, "bytes": f.stat().st_size}
            for f in sorted(loaded.path.iterdir())
            if f.is_file() and not f.name.startswith(".")
        ],
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
        f"{', standardized' if data.standardize else ''}",
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
    """Epochs run, wall time, and the best epoch by validation loss (or training loss)."""
    summary = loaded.summary
    result = {
        "epochs_run": summary.get("epochs_run"),
        "stopped_early": summary.get("stopped_early", False),
        "wall_time_s": summary.get("wall_time_s"),
        "best_epoch": None,
        "best_by": None,
        "best_value": None,
    }
    records = read_metrics(loaded.path)
    monitor = "val_loss" if records and records[0].get("val_loss") else "loss"
    scored = [(float(r[monitor]), int(r["epoch"])) for r in records if r.get(monitor)]
    scored = [(value, epoch) for value, epoch in scored if math.isfinite(value)]
    if scored:
        value, epoch = min(scored)
        result.update(best_epoch=epoch, best_by=monitor, best_value=value)
    if summary.get("best_epoch") is not None:
        result["restored_epoch"] = summary["best_epoch"]
    return result


def diagnostics_summary(run_dir: Path) -> dict | None:
    """The last epoch's row per layer and every warning; None when diagnostics were off."""
    path = run_dir / diagnostics.FILENAME
    if not path.is_file():
        return None
    rows = diagnostics.read_csv(path)
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


# ---------------------------------------------------------------------------- rendering


def render(report: dict) -> list:
    """The report as Rich renderables, top to bottom."""
    from rich.table import Table
    from rich.text import Text

    from bpcli.display import metrics_table

    parts: list = [
        Text(f"{report['name']}  ({report['task']})", style="bold"),
        Text(report["path"]),
    ]
    config = Table(title="config", show_header=False, title_justify="left")
    for key, value in report["config"].items():
        config.add_row(key, value)
    parts.append(config)
    parts.append(_layers_table(report))
    if report["metrics"]:
        parts.append(metrics_table(report["metrics"], "final metrics"))
    parts.append(Text(_training_line(report["training"])))
    parts.extend(_diagnostics_parts(report["diagnostics"]))
    files = Table(title="files", show_header=False, title_justify="left")
    for entry in report["files"]:
        files.add_row(entry["name"], f"{entry['bytes']:,} bytes")
    parts.append(files)
    return parts


def _layers_table(report: dict):
    from rich.table import Table

    table = Table(title=f"parameters: {report['parameters']:,}", title_justify="left")
    for column in ("layer", "W shape", "activation", "parameters", "‖W‖", "rms(W)"):
        table.add_column(column, justify="left" if column == "activation" else "right")
    for row in report["layers"]:
        table.add_row(
            str(row["layer"]),
            " x ".join(map(str, row["shape"])),
            row["activation"],
            f"{row['parameters']:,}",
            f"{row['weight_norm']:.4g}",
            f"{row['weight_rms']:.3g}",
        )
    return table


def _training_line(training: dict) -> str:
    line = f"epochs run: {training['epochs_run']}"
    if training["wall_time_s"] is not None:
        line += f" in {training['wall_time_s']:.2f}s"
    if training["stopped_early"]:
        line += " (stopped early)"
    if training["best_epoch"] is not None:
        line += (
            f"; best epoch {training['best_epoch']} by {training['best_by']} "
            f"({training['best_value']:.4g})"
        )
    if training.get("restored_epoch") is not None:
        line += f"; weights restored from epoch {training['restored_epoch']}"
    return line


def _diagnostics_parts(summary: dict | None) -> list:
    from rich.table import Table
    from rich.text import Text

    if summary is None:
        return [Text("diagnostics: none recorded (training.diagnostics was off)", style="dim")]
    table = Table(title=f"diagnostics, epoch {summary['last_epoch']}", title_justify="left")
    for column in ("layer", "activation", "‖∇W‖", "first ‖∇W‖", "‖ΔW‖/‖W‖", "dead", "saturated"):
        table.add_column(column, justify="left" if column == "activation" else "right")
    for row in summary["layers"]:
        table.add_row(
            str(row["layer"]),
            row["activation"],
            _number(row["grad_norm"]),
            _number(row["first_grad_norm"]),
            _number(row["update_ratio"]),
            _percent(row["dead_fraction"]),
            _percent(row["saturated_fraction"]),
        )
    parts: list = [table]
    if not summary["alerts"]:
        parts.append(Text("no gradient warnings", style="green"))
    for alert in summary["alerts"]:
        text = Text.assemble(("warning: ", "bold yellow"), alert["message"])
        text.append(f"\n  {alert['hint']}", style="dim")
        parts.append(text)
    return parts


def _number(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def _percent(value) -> str:
    return "-" if value is None else f"{value:.0%}"
