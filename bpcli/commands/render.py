"""Everything bpcli draws on the terminal: the live training and sweep displays, tables, the loss
chart and the `inspect` report. Results are computed elsewhere and arrive here ready to show; this module only renders.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from bpcli.config import value_text
from bpcli.core.gradcheck import TensorCheck
from bpcli.core.metrics import Report
from bpcli.runs.session import Listener
from bpcli.sweeps.driver import SweepListener
from bpcli.sweeps.results import trial_row
from bpcli.sweeps.trial import Outcome

SHOWN = ("loss", "accuracy", "mae", "r2", "val_loss", "val_accuracy", "val_mae", "val_r2")


def stderr_console() -> Console:
    """Rich output on stderr; Rich itself honours NO_COLOR and drops styling when not a terminal.
    Messages are not re-wrapped at the console width (soft_wrap), so each stays one greppable line."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def format_metrics(record: dict) -> str:
    return "  ".join(f"{key} {record[key]:.4f}" for key in SHOWN if key in record)


def compact_metrics(record: dict) -> str:
    """The few numbers that fit beside a progress bar: losses, and the validation metric if any."""
    shown = [key for key in ("loss", "val_loss", "val_accuracy", "val_r2") if key in record]
    return " ".join(f"{key.replace('accuracy', 'acc')} {record[key]:.4f}" for key in shown)


def format_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


class TrainingDisplay(Listener):
    """Follows a training session: a live bar on a terminal, one line per epoch otherwise; notes and
    warnings above it. Quiet: nothing at all."""

    def __init__(self, console: Console, quiet: bool = False):
        self.console, self.quiet = console, quiet
        self.epochs, self.title, self.start = 0, "", 0
        self.progress: Progress | None = None
        self.task = None

    def begin(self, experiment, run_dir: Path, start_epoch: int) -> None:
        config = experiment.config
        self.epochs, self.title, self.start = config.training.epochs, config.name, start_epoch

    def __enter__(self) -> TrainingDisplay:
        if not self.quiet and self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(bar_width=16),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"),
                console=self.console,
                refresh_per_second=4,
            )
            self.progress.start()
            self.task = self.progress.add_task(
                self.title, total=self.epochs, completed=self.start, metrics=""
            )
        return self

    def on_epoch(self, record: dict) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, metrics=compact_metrics(record))
        elif not self.quiet:
            self.console.print(
                f"epoch {record['epoch']}/{self.epochs}  {format_metrics(record)}  "
                f"({format_seconds(record['seconds'])})",
                markup=False,
            )

    def warn(self, message: str, hint: str | None = None) -> None:
        """A problem seen during training (e.g. dead ReLUs), printed above the bar."""
        if not self.quiet:
            text = Text.assemble(("warning: ", "bold yellow"), message)
            if hint:
                text.append(f"\n  {hint}", style="dim")
            self.console.print(text)

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, markup=False)

    def __exit__(self, *exc_info) -> None:
        if self.progress is not None:
            self.progress.stop()


def metrics_table(metrics: dict[str, dict], title: str) -> Table:
    """One row per split (train, validation, test), one column per metric."""
    columns = list(dict.fromkeys(key for scores in metrics.values() for key in scores))
    table = Table(title=title)
    table.add_column("split")
    for column in columns:
        table.add_column(column, justify="right")
    for split in ("train", "validation", "test"):
        if split in metrics:
            table.add_row(split, *(f"{metrics[split].get(c, float('nan')):.4f}" for c in columns))
    return table


# ---------------------------------------------------------------------------- eval and gradcheck


def eval_tables(report: Report) -> list[Table]:
    """Headline metrics; for classification also per-class scores and the confusion matrix."""
    metrics = Table()
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for name, value in report.metrics.items():
        metrics.add_row(name, f"{value:.4f}")
    if report.task == "regression":
        return [metrics]
    per_class = Table(title="per class")
    for column in ("label", "precision", "recall", "f1", "support"):
        per_class.add_column(column, justify="left" if column == "label" else "right")
    for row in report.per_class:
        per_class.add_row(
            str(row["label"]),
            f"{row['precision']:.4f}",
            f"{row['recall']:.4f}",
            f"{row['f1']:.4f}",
            str(row["support"]),
        )
    confusion = Table(title="confusion matrix (rows: true, columns: predicted)")
    confusion.add_column("true \\ predicted")
    for label in report.labels:
        confusion.add_column(str(label), justify="right")
    for label, counts in zip(report.labels, report.confusion, strict=True):
        confusion.add_row(str(label), *map(str, counts))
    return [metrics, per_class, confusion]


def status(check: TensorCheck) -> str:
    if not check.passed:
        return "[bold red]FAIL[/bold red]"
    return "PASS" if check.checked else "[yellow]all skipped[/yellow]"


def gradcheck_table(checks: list[TensorCheck], title: str) -> Table:
    """One row per parameter tensor: shape, entries checked and skipped, worst errors, verdict."""
    table = Table(title=title)
    table.add_column("tensor")
    table.add_column("shape")
    for column in ("checked", "skipped", "max abs err", "max rel err", "result"):
        table.add_column(column, justify="right")
    for check in checks:
        table.add_row(
            check.name,
            "×".join(map(str, check.shape)),
            str(check.checked),
            str(check.skipped),
            f"{check.max_abs_error:.2e}",
            f"{check.max_rel_error:.2e}",
            status(check),
        )
    return table


def gradcheck_verdict(checks: list[TensorCheck], tol: float) -> str:
    checked = sum(c.checked for c in checks)
    skipped = sum(c.skipped for c in checks)
    failed = [c.name for c in checks if not c.passed]
    counts = f"{checked} entries checked, {skipped} skipped at kinks"
    if failed:
        return f"[bold red]FAIL[/bold red]: {', '.join(failed)} exceed relative error {tol:g} ({counts})"
    worst = max((c.max_rel_error for c in checks), default=0.0)
    verdict = f"[green]PASS[/green]: every gradient within {tol:g} (worst {worst:.1e}; {counts})"
    unverified = [c.name for c in checks if c.checked == 0]
    if unverified:
        verdict += (
            f"\n[yellow]not verified: {', '.join(unverified)}[/yellow] (every step crossed a kink; "
            "try a smaller --eps or more --samples)"
        )
    return verdict


# ---------------------------------------------------------------------------- the loss chart


BLOCKS = " ▁▂▃▄▅▆▇█"
LOG_SPAN = 100


def resample(values: list[float], width: int) -> list[float]:
    """At most `width` points: consecutive values averaged in equal buckets, or each value repeated."""
    n = len(values)
    if n <= width:
        repeat = max(1, min(4, width // n))
        return [v for v in values for _ in range(repeat)]
    edges = [round(i * n / width) for i in range(width + 1)]
    return [sum(values[a:b]) / (b - a) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def columns(values: list[float], height: int) -> list[str]:
    """Each value as a column of `height` cells, filled in eighths from the bottom (min shows as ▁)."""
    lo, hi = min(values), max(values)
    levels = height * 8
    cells = []
    for value in values:
        share = (value - lo) / (hi - lo) if hi > lo else 0.5
        filled = 1 + round(share * (levels - 1))
        cells.append(
            "".join(BLOCKS[max(0, min(8, filled - 8 * row))] for row in range(height - 1, -1, -1))
        )
    return cells


def loss_chart(epochs: list[dict], key: str = "loss", width: int = 60, height: int = 6) -> str:
    """A block chart of `key` per epoch with its range on the left; '' when there is nothing to draw."""
    values = [float(r[key]) for r in epochs if key in r and math.isfinite(float(r[key]))]
    if len(values) < 2:
        return ""
    # Losses often fall by decades: then a log scale shows the shape of the whole run.
    log = min(values) > 0 and max(values) / min(values) > LOG_SPAN
    drawn = [math.log10(v) for v in values] if log else values
    cells = columns(resample(drawn, width), height)
    top, bottom = f"{max(values):.4g}", f"{min(values):.4g}"
    margin = max(len(top), len(bottom))
    lines = [f"{key} per epoch{' (log scale)' if log else ''}"]
    for row in range(height):
        label = top if row == 0 else bottom if row == height - 1 else ""
        lines.append(f"{label:>{margin}} │" + "".join(cell[row] for cell in cells))
    axis = f"epoch 1{'':{max(1, len(cells) - 7 - len(str(len(values))))}}{len(values)}"
    lines.append(f"{'':>{margin}} └{'─' * len(cells)}")
    lines.append(f"{'':>{margin}}  {axis}")
    return "\n".join(lines)


def summary_line(epochs: list[dict], key: str = "val_loss") -> str:
    """'val_loss 0.41 -> 0.09 (best 0.08 at epoch 23)', or '' when the runs has no such metric."""
    points = [(r["epoch"], float(r[key])) for r in epochs if key in r]
    if not points:
        return ""
    best_epoch, best = min(points, key=lambda p: p[1])
    return (
        f"{key} {points[0][1]:.4g} -> {points[-1][1]:.4g} (best {best:.4g} at epoch {best_epoch})"
    )


# ---------------------------------------------------------------------------- inspect


def inspect_parts(report: dict) -> list:
    """The report as Rich renderables, top to bottom."""
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
    if summary is None:
        return [Text("diagnostics: none recorded (training.diagnostics was off)", style="dim")]
    table = Table(title=f"diagnostics, epoch {summary['last_epoch']}", title_justify="left")
    for column in ("layer", "activation", "‖∇W‖", "first ‖∇W‖", "‖ΔW‖/‖W‖", "dead", "saturated"):
        table.add_column(column, justify="left" if column == "activation" else "right")
    for row in summary["layers"]:
        table.add_row(
            str(row["layer"]),
            row["activation"],
            _short(row["grad_norm"]),
            _short(row["first_grad_norm"]),
            _short(row["update_ratio"]),
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


def _short(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def _percent(value) -> str:
    return "-" if value is None else f"{value:.0%}"


# ---------------------------------------------------------------------------- sweeps and runs


def number(value, digits: int = 4) -> str:
    """A metric cell: fixed decimals, '-' where there is none."""
    if value is None or value == "":
        return "-"
    return f"{float(value):.{digits}f}"


class SweepDisplay(SweepListener):
    """Follows a sweep: one aligned line per trial as it finishes (a growing table), under a live bar
    on a terminal; notes above. Quiet: nothing at all."""

    def __init__(self, console: Console, quiet: bool = False):
        self.console, self.quiet = console, quiet
        self.progress: Progress | None = None
        self.task = None
        self.columns: list[tuple[str, int]] = []
        self.metric, self.todo = "", 0

    def begin(self, plan, path: Path, todo: int) -> None:
        self.metric, self.todo = plan.spec.metric, todo
        rows = [trial_row(t, Outcome(t.id, "pending"), "") for t in plan.trials]
        keys = ["id", *plan.spec.swept, "seed", *(["fold"] if plan.spec.cv else [])]
        self.columns = [(k, max(len(k), *(len(str(r.get(k, ""))) for r in rows))) for k in keys]
        self.columns += [("status", 11), (self.metric, max(len(self.metric), 7)), ("seconds", 8)]
        if not self.quiet and todo:
            self.console.print(f"sweep {path}: {todo} trials to run", markup=False)
            header = "  ".join(f"{name:<{width}}" for name, width in self.columns)
            self.console.print(header, style="bold", markup=False)

    def __enter__(self) -> SweepDisplay:
        if not self.quiet and self.todo and self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]trials"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=self.console,
                refresh_per_second=4,
            )
            self.progress.start()
            self.task = self.progress.add_task("trials", total=self.todo)
        return self

    def on_trial(self, trial, outcome, row: dict) -> None:
        if self.quiet:
            return
        cells = {**row, self.metric: number(outcome.metrics.get(self.metric))}
        line = "  ".join(f"{str(cells.get(name, '')):<{width}}" for name, width in self.columns)
        style = {"done": None, "diverged": "yellow", "failed": "red"}.get(outcome.status, "dim")
        text = Text(line.rstrip(), style=style or "")
        if outcome.message:
            text.append(f"\n  {outcome.message}", style="dim")
        self.console.print(text)
        if self.progress is not None:
            self.progress.update(self.task, advance=1)

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, markup=False)

    def __exit__(self, *exc_info) -> None:
        if self.progress is not None:
            self.progress.stop()


def params_text(params: dict) -> str:
    return " ".join(f"{key}={value_text(value)}" for key, value in params.items()) or "(base)"


def sweep_table(summary: dict, limit: int = 10) -> Table:
    """The best points, best first: parameters, mean ± std of the metric, runs, statuses."""
    metric = summary["metric"]
    table = Table(title=f"best points by {metric} ({summary['mode']})")
    table.add_column("#", justify="right")
    for key in summary["params"]:
        table.add_column(key, justify="right")
    table.add_column(f"{metric} mean ± std", justify="right")
    table.add_column("runs", justify="right")
    for rank, point in enumerate(summary["points"][:limit], start=1):
        score = "-" if point["mean"] is None else f"{point['mean']:.4f} ± {point['std']:.4f}"
        statuses = ", ".join(f"{n} {status}" for status, n in point["statuses"].items())
        table.add_row(
            str(rank),
            *(value_text(point["params"][key]) for key in summary["params"]),
            score,
            statuses,
        )
    return table


def best_line(summary: dict) -> str:
    best = summary["best"]
    counts = ", ".join(f"{n} {status}" for status, n in summary["counts"].items() if n)
    if best is None:
        return f"no point finished all its trials ({counts})"
    return (
        f"best: {params_text(best['params'])}: {summary['metric']} {best['mean']:.4f} ± "
        f"{best['std']:.4f} over {best['runs']} run(s) ({', '.join(best['trials'])}); {counts}"
    )


def print_wide(console: Console, table: Table) -> None:
    """A table at its natural width where there is no terminal to fit (a pipe, a log file)."""
    if console.is_terminal:
        console.print(table)
        return
    width = console.width
    natural = console.measure(table, options=console.options.update_width(10_000)).maximum
    console.width = max(width, natural)
    try:
        console.print(table)
    finally:
        console.width = width


def runs_table(rows: list[dict], title: str) -> Table:
    """One row per run folder: name, task, status, validation and test metrics, epochs, seconds,
    swept parameters."""
    metrics = list(dict.fromkeys(k for row in rows for k in row if k.startswith(("val_", "test_"))))
    params = list(dict.fromkeys(k for row in rows for k in row["params"]))
    table = Table(title=title)
    for column in ("run", "task", "status"):
        table.add_column(column)
    for column in (*metrics, "epochs", "seconds", *params):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["run"],
            row.get("task", "-"),
            row["status"],
            *(number(row.get(m)) for m in metrics),
            str(row.get("epochs", "-")),
            number(row.get("seconds"), 2),
            *(row["params"].get(p, "-") for p in params),
        )
    return table
