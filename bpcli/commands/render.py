"""Everything bpcli draws on the terminal: the live training and sweep displays, tables, the loss
chart and the `inspect` report. Results are computed elsewhere and arrive here ready to show; this
module only renders.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.live import Live
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
COMPACT = ("loss", "val_loss", "val_accuracy", "val_r2")
"""The few metrics beside the live bar, in the order they are dropped last to first when narrow."""
CHART_WIDTH = 60
"""The loss chart's plot area at most; narrower terminals get a narrower chart."""
COMPACT_TABLE = {
    "box": box.SIMPLE_HEAD,
    "show_edge": False,
    "pad_edge": False,
    "collapse_padding": True,
}
"""Wide tables (inspect, gradcheck): a rule under the header, no vertical lines: they fit 60 columns."""


def stderr_console() -> Console:
    """Rich output on stderr; Rich itself honours NO_COLOR and drops styling when not a terminal.
    Messages are not re-wrapped at the console width (soft_wrap), so each stays one greppable line."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def number(value, digits: int = 4) -> str:
    """`value` with `digits` significant digits, the one format of every number bpcli shows:
    0.005446, 1.8e-05, 0.9611, 1, 1.235e+04, nan. A small value never shows as 0.0000."""
    return f"{float(value):.{digits}g}"


def format_metrics(record: dict) -> str:
    return "  ".join(f"{key} {number(record[key])}" for key in SHOWN if key in record)


def compact_metrics(record: dict) -> list[str]:
    """The metrics that fit beside a progress bar: losses, and the validation metric if any."""
    return [
        f"{key.replace('accuracy', 'acc')} {number(record[key])}"
        for key in COMPACT
        if key in record
    ]


def format_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def duration(seconds: float | None) -> str:
    """A duration as m:ss (h:mm:ss past an hour); -:-- when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def architecture(experiment) -> str:
    """'784-256-128-10 relu → softmax, 235,146 parameters': the widths and activations."""
    network = experiment.network
    hidden = {layer.activation.name for layer in network.layers[:-1]}
    output = network.layers[-1].activation.name
    activations = f"{', '.join(sorted(hidden))} → {output}" if hidden else output
    widths = "-".join(map(str, network.widths))
    return f"{widths} {activations}, {network.parameter_count():,} parameters"


def start_line(experiment) -> str:
    """What is being trained, in one line: network, rows per split, optimizer and schedule."""
    config = experiment.config
    rows = ", ".join(f"{len(s)} {name}" for name, s in experiment.data.splits.items() if len(s))
    optimizer = config.optimizer
    return (
        f"{config.name}: {architecture(experiment)}; rows: {rows}; "
        f"{optimizer.name} lr {number(optimizer.lr)}, {optimizer.schedule.name} schedule"
    )


class ProgressLine:
    """The live line: `name ━━━━╸━━━━  epoch 12/30  ETA 0:03  loss 0.0054  val_loss 0.1162`.

    Fitted to the width it is drawn at: the epoch counter and the ETA are always whole; metrics are
    dropped first (last one first), then the name; the bar takes the rest (up to CHART_WIDTH)."""

    MIN_BAR = 8

    def __init__(self, title: str, epochs: int, start: int, now: float):
        self.title, self.epochs, self.start = title, epochs, start
        self.done, self.batch = start, None  # epochs finished; (batch, batches) within the next
        self.metrics: list[str] = []
        self.started, self.finished = now, False
        self.now = now

    def fraction(self) -> float:
        """Epochs done, counting the share of the epoch in progress."""
        partial = self.batch[0] / self.batch[1] if self.batch else 0.0
        return self.done + partial

    def eta(self) -> float | None:
        """Seconds left at the pace so far; None before the first batch or epoch is done."""
        progress = self.fraction() - self.start
        if progress <= 0:
            return None
        return (self.now - self.started) * (self.epochs - self.fraction()) / progress

    def timing(self) -> str:
        """'ETA 0:03' while training, 'took 0:05' once it ended."""
        if self.finished:
            return f"took {duration(self.now - self.started)}"
        return f"ETA {duration(self.eta())}"

    def counter(self) -> str:
        if self.batch:
            return f"epoch {self.done + 1}/{self.epochs} batch {self.batch[0]}/{self.batch[1]}"
        return f"epoch {self.done}/{self.epochs}"

    def render(self, width: int) -> Text:
        """The line at `width` cells."""
        fixed = [self.counter(), self.timing()]
        room = width - sum(cell_len(piece) + 2 for piece in fixed) - self.MIN_BAR
        title = self.title if cell_len(self.title) + 1 <= room else ""
        room -= cell_len(title) + 1 if title else 0
        metrics = []
        for metric in self.metrics:
            if cell_len(metric) + 2 > room:
                break
            metrics.append(metric)
            room -= cell_len(metric) + 2
        bar = min(CHART_WIDTH, self.MIN_BAR + max(0, room)) if room >= 0 else 0
        line = Text()
        if title:
            line.append(title + " ", style="bold")
        if bar:
            line.append_text(progress_bar(self.fraction() / max(1, self.epochs), bar))
            line.append("  ")
        line.append("  ".join([*fixed, *metrics]))
        return line

    def __rich_console__(self, console, options):
        yield self.render(options.max_width)


def progress_bar(share: float, width: int) -> Text:
    """A bar of `width` cells, `share` (0..1) of it filled in half cells."""
    halves = round(max(0.0, min(1.0, share)) * width * 2)
    full, half = divmod(halves, 2)
    bar = Text()
    bar.append("━" * full, style="bar.complete")
    if half:
        bar.append("╸", style="bar.complete")
    bar.append("━" * (width - full - half), style="bar.back")
    return bar


class TrainingDisplay(Listener):
    """Follows a training session: a start line, then a live bar on a terminal (one line per epoch
    otherwise); notes and warnings above it. Quiet: nothing at all.

    The bar is redrawn at most REFRESH times a second; within an epoch that has run for over
    BATCH_AFTER seconds it moves batch by batch."""

    REFRESH = 10
    BATCH_AFTER = 1.0

    def __init__(self, console: Console, quiet: bool = False, clock=time.monotonic):
        self.console, self.quiet, self.clock = console, quiet, clock
        self.epochs = 0
        self.line: ProgressLine | None = None
        self.live: Live | None = None
        self.next_refresh = self.epoch_started = 0.0

    def begin(self, experiment, run_dir: Path, start_epoch: int) -> None:
        config = experiment.config
        self.epochs = config.training.epochs
        self.note(start_line(experiment))
        now = self.clock()
        self.line = ProgressLine(config.name, self.epochs, start_epoch, now)
        self.epoch_started = now

    def __enter__(self) -> TrainingDisplay:
        if not self.quiet and self.console.is_terminal and self.line is not None:
            self.live = Live(self.line, console=self.console, auto_refresh=False)
            self.live.start(refresh=True)
        return self

    def on_batch(self, done: int, total: int) -> None:
        """Cheap unless a redraw is due: one clock reading and two comparisons per batch."""
        if self.live is None:
            return
        now = self.clock()
        if now < self.next_refresh or now - self.epoch_started < self.BATCH_AFTER:
            return
        self.line.batch = (done, total)
        self.redraw(now)

    def on_epoch(self, record: dict) -> None:
        now = self.clock()
        self.epoch_started = now
        if self.live is not None:
            self.line.done, self.line.batch = record["epoch"], None
            self.line.metrics = compact_metrics(record)
            if now >= self.next_refresh or record["epoch"] == self.epochs:
                self.redraw(now)
        elif not self.quiet:
            self.console.print(
                f"epoch {record['epoch']}/{self.epochs}  {format_metrics(record)}  "
                f"({format_seconds(record['seconds'])})",
                markup=False,
                soft_wrap=True,
            )

    def redraw(self, now: float) -> None:
        self.line.now = now
        self.next_refresh = now + 1 / self.REFRESH
        self.live.refresh()

    def warn(self, message: str, hint: str | None = None) -> None:
        """A problem seen during training (e.g. dead ReLUs), printed above the bar."""
        if not self.quiet:
            text = Text.assemble(("warning: ", "bold yellow"), message)
            if hint:
                text.append(f"\n  {hint}", style="dim")
            self.console.print(text)

    def note(self, message: str) -> None:
        """A line above the bar; on a terminal wrapped at word boundaries, elsewhere left whole."""
        if not self.quiet:
            self.console.print(message, markup=False, soft_wrap=not self.console.is_terminal)

    def __exit__(self, *exc_info) -> None:
        if self.live is not None:
            self.line.finished = True
            self.line.now = self.clock()
            self.live.stop()


def metrics_table(metrics: dict[str, dict], title: str) -> Table:
    """One row per split (train, validation, test), one column per metric."""
    columns = list(dict.fromkeys(key for scores in metrics.values() for key in scores))
    table = Table(title=title)
    table.add_column("split")
    for column in columns:
        table.add_column(column, justify="right")
    for split in ("train", "validation", "test"):
        if split in metrics:
            table.add_row(split, *(number(metrics[split].get(c, math.nan)) for c in columns))
    return table


# ---------------------------------------------------------------------------- eval and gradcheck


def eval_tables(report: Report) -> list[Table]:
    """Headline metrics; for classification also per-class scores and the confusion matrix."""
    metrics = Table()
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for name, value in report.metrics.items():
        metrics.add_row(name, number(value))
    if report.task == "regression":
        return [metrics]
    per_class = Table(title="per class")
    for column in ("label", "precision", "recall", "f1", "support"):
        per_class.add_column(column, justify="left" if column == "label" else "right")
    for row in report.per_class:
        per_class.add_row(
            str(row["label"]),
            number(row["precision"]),
            number(row["recall"]),
            number(row["f1"]),
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
    """One row per parameter tensor: shape, entries checked and skipped, the worst error relative
    to the tensor's gradient scale, the noise level, verdict (the scale itself is in --json)."""
    table = Table(title=title, **COMPACT_TABLE)
    table.add_column("tensor")
    table.add_column("shape")
    for column in ("checked", "skipped", "rel err", "noise", "result"):
        table.add_column(column, justify="right")
    for check in checks:
        table.add_row(
            check.name,
            "×".join(map(str, check.shape)),
            str(check.checked),
            str(check.skipped),
            number(check.max_rel_error, 2),
            number(check.noise, 2),
            status(check),
        )
    return table


def gradcheck_verdict(checks: list[TensorCheck], tol: float) -> str:
    checked = sum(c.checked for c in checks)
    skipped = sum(c.skipped for c in checks)
    failed = [c.name for c in checks if not c.passed]
    counts = f"{checked} entries checked, {skipped} skipped at kinks"
    if failed:
        return (
            f"[bold red]FAIL[/bold red]: {', '.join(failed)} exceed relative error {tol:g} and "
            f"their noise level ({counts})"
        )
    worst = max((c.max_rel_error for c in checks if c.checked), default=0.0)
    verdict = (
        f"[green]PASS[/green]: every gradient within {tol:g} (worst {number(worst, 2)}; {counts})"
    )
    noisy = [c.name for c in checks if c.checked and c.max_rel_error > tol]
    if noisy:
        verdict = (
            f"[green]PASS[/green]: every gradient within {tol:g} or its tensor's noise level "
            f"({counts})\n[yellow]within noise only: {', '.join(noisy)}[/yellow] (gradients too "
            "small to resolve that tolerance at this --eps; see the noise column)"
        )
    unverified = [c.name for c in checks if c.checked == 0]
    if unverified:
        verdict += (
            f"\n[yellow]not verified: {', '.join(unverified)}[/yellow] (every step crossed a kink; "
            "try a smaller --eps or more --samples)"
        )
    return verdict


def export_verdict(comparison) -> str:
    """One line: onnxruntime against bpcli on a split (bpcli export --check)."""
    where = f"onnxruntime vs bpcli on the {comparison.split} split, {comparison.rows} rows"
    worst = f"largest relative difference {comparison.max_rel_error:.1e}"
    mismatches = comparison.label_mismatches
    if comparison.passed:
        labels = "" if mismatches is None else ", labels identical"
        return f"[green]PASS[/green]: {where}: {worst} (at most {comparison.rtol:g}){labels}"
    labels = "" if mismatches is None else f", {mismatches} labels differ"
    return f"[bold red]FAIL[/bold red]: {where}: {worst} (allowed {comparison.rtol:g}){labels}"


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


def column_cells(values: list[float], height: int) -> list[str]:
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


def loss_chart(epochs: list[dict], key: str = "loss", columns: int = 80, height: int = 6) -> str:
    """A block chart of `key` per epoch with its range on the left, fitted to `columns` terminal
    columns (the plot itself at most CHART_WIDTH wide); '' when there is nothing to draw."""
    values = [float(r[key]) for r in epochs if key in r and math.isfinite(float(r[key]))]
    if len(values) < 2:
        return ""
    # Losses often fall by decades: then a log scale shows the shape of the whole run.
    log = min(values) > 0 and max(values) / min(values) > LOG_SPAN
    drawn = [math.log10(v) for v in values] if log else values
    top, bottom = number(max(values)), number(min(values))
    margin = max(len(top), len(bottom))
    width = max(1, min(CHART_WIDTH, columns - margin - 2))
    cells = column_cells(resample(drawn, width), height)
    lines = [f"{key} per epoch{' (log scale)' if log else ''}"]
    for row in range(height):
        label = top if row == 0 else bottom if row == height - 1 else ""
        lines.append(f"{label:>{margin}} │" + "".join(cell[row] for cell in cells))
    axis = f"epoch 1{'':{max(1, len(cells) - 7 - len(str(len(values))))}}{len(values)}"
    lines.append(f"{'':>{margin}} └{'─' * len(cells)}")
    lines.append(f"{'':>{margin}}  {axis}")
    return "\n".join(lines)


def summary_line(epochs: list[dict], summary: dict) -> str:
    """'val_loss 0.903 -> 0.1489 (best 0.08395 at epoch 59)': the first and last value of the
    monitored metric, and the best epoch as the run's summary records it (the early-stopping note
    says whose weights were kept); '' when there is none."""
    key, best_epoch = summary.get("best_metric"), summary.get("best_epoch")
    points = [float(r[key]) for r in epochs if key in r]
    if not points or best_epoch is None:
        return ""
    first, last, best = number(points[0]), number(points[-1]), number(summary["best_value"])
    return f"{key} {first} -> {last} (best {best} at epoch {best_epoch})"


def final_title(name: str, summary: dict) -> str:
    """The final table's title; it names the epoch whose weights were kept when not the last."""
    kept, ran = summary.get("weights_epoch"), summary.get("epochs_run")
    if kept is None or kept == ran:
        return f"{name}: final metrics"
    return f"{name}: final metrics, weights of epoch {kept} (best {summary.get('best_metric')})"


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
    table = Table(
        title=f"parameters: {report['parameters']:,}", title_justify="left", **COMPACT_TABLE
    )
    for column in ("layer", "W shape", "activation", "parameters", "‖W‖", "rms(W)"):
        table.add_column(column, justify="left" if column == "activation" else "right")
    for row in report["layers"]:
        table.add_row(
            str(row["layer"]),
            " x ".join(map(str, row["shape"])),
            row["activation"],
            f"{row['parameters']:,}",
            number(row["weight_norm"]),
            number(row["weight_rms"]),
        )
    return table


def _training_line(training: dict) -> str:
    line = f"epochs run: {training['epochs_run']}"
    if training["wall_time_s"] is not None:
        line += f" in {training['wall_time_s']:.2f}s"
    if training["stopped_early"]:
        line += " (stopped early)"
    if training["best_epoch"] is not None and training["best_by"] is not None:
        last = training.get("last_value")
        line += (
            f"; best epoch {training['best_epoch']} by {training['best_by']} "
            f"({number(training['best_value'])}{'' if last is None else f'; last {number(last)}'})"
        )
    if training.get("weights_epoch") is not None:
        line += f"; weights from epoch {training['weights_epoch']}"
    return line


def _diagnostics_parts(summary: dict | None) -> list:
    if summary is None:
        return [Text("diagnostics: none recorded (training.diagnostics was off)", style="dim")]
    # no activation column (the layers table has it): the table fits 60 columns uncut
    table = Table(
        title=f"diagnostics, epoch {summary['last_epoch']}",
        title_justify="left",
        **COMPACT_TABLE,
    )
    for column in ("layer", "‖∇W‖", "first ‖∇W‖", "‖ΔW‖/‖W‖", "dead", "saturated"):
        table.add_column(column, justify="right")
    for row in summary["layers"]:
        table.add_row(
            str(row["layer"]),
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
    return "-" if value is None else number(value, 3)


def _percent(value) -> str:
    return "-" if value is None else f"{value:.0%}"


# ---------------------------------------------------------------------------- sweeps and runs


def cell(value, digits: int = 4) -> str:
    """A table cell for a number that may be missing: number(value), or '-'."""
    return "-" if value is None or value == "" else number(value, digits)


class SweepLine:
    """The live line of a sweep: `trials ━━━━╸━━━━  5/16  ETA 0:12  best val_accuracy 0.9667`."""

    def __init__(self, todo: int, now: float):
        self.todo, self.done, self.started, self.now = todo, 0, now, now
        self.best = ""

    def render(self, width: int) -> Text:
        """The line at `width` cells: counter and ETA always; the best so far if it fits; the bar
        in what is left."""
        eta = (self.now - self.started) * (self.todo - self.done) / self.done if self.done else None
        text = f"{self.done}/{self.todo}  ETA {duration(eta)}"
        if self.best and cell_len(f"trials {text}  {self.best}") <= width:
            text = f"{text}  {self.best}"
        bar = min(CHART_WIDTH, width - cell_len(text) - len("trials ") - 2)
        line = Text("trials ", style="bold")
        if bar >= ProgressLine.MIN_BAR:
            line.append_text(progress_bar(self.done / max(1, self.todo), bar))
            line.append("  ")
        line.append(text)
        return line

    def __rich_console__(self, console, options):
        yield self.render(options.max_width)


class SweepDisplay(SweepListener):
    """Follows a sweep: one aligned line per trial as it comes back (a table that grows), under a
    live line on a terminal; notes above. Quiet: nothing at all."""

    def __init__(self, console: Console, quiet: bool = False, clock=time.monotonic):
        self.console, self.quiet, self.clock = console, quiet, clock
        self.live: Live | None = None
        self.line: SweepLine | None = None
        self.columns: list[tuple[str, int]] = []
        self.metric, self.mode, self.todo, self.best = "", "min", 0, None

    def begin(self, plan, path: Path, todo: int) -> None:
        spec = plan.spec
        self.metric, self.mode, self.todo = spec.metric, spec.mode, todo
        rows = [self.cells(t, trial_row(t, Outcome(t.id, "pending"), "")) for t in plan.trials]
        keys = ["id", *spec.swept, "seed", *(["fold"] if spec.cv else [])]
        self.columns = [(k, max([len(k), *(len(r[k]) for r in rows if k in r)])) for k in keys]
        self.columns[0] = ("id", len(plan.trial_id(plan.size - 1)))
        self.columns += [("status", 11), (self.metric, max(len(self.metric), 9)), ("seconds", 7)]
        self.line = SweepLine(todo, self.clock())
        if not self.quiet and todo:
            self.note(f"sweep {path}: {todo} of {plan.size} trials to run")
            header = "  ".join(f"{name:<{width}}" for name, width in self.columns)
            self.console.print(header.rstrip(), style="bold", markup=False, soft_wrap=True)

    def __enter__(self) -> SweepDisplay:
        if not self.quiet and self.todo and self.console.is_terminal:
            self.live = Live(self.line, console=self.console, auto_refresh=False)
            self.live.start(refresh=True)
        return self

    def on_trial(self, trial, outcome, row: dict) -> None:
        if self.quiet:
            return
        value = outcome.metrics.get(self.metric)
        cells = {
            **self.cells(trial, row),
            self.metric: cell(value),
            "seconds": cell(row["seconds"], 3),
        }
        line = "  ".join(f"{str(cells.get(name, '')):<{width}}" for name, width in self.columns)
        style = {"done": "", "diverged": "yellow", "failed": "red"}.get(outcome.status, "dim")
        text = Text(line.rstrip(), style=style)
        if outcome.message:
            text.append(f"\n  {outcome.message}", style="dim")
        self.console.print(text, soft_wrap=True)
        self.line.done += 1
        if value is not None and (self.best is None or (value > self.best) == (self.mode == "max")):
            self.best = value
            self.line.best = f"best {self.metric} {number(value)}"
        if self.live is not None:
            self.line.now = self.clock()
            self.live.refresh()

    @staticmethod
    def cells(trial, row: dict) -> dict:
        """A trial's row as shown: sampled floats in 4 significant digits (the trials table has them
        in full), other values as written."""
        shown = {key: param_cell(value) for key, value in trial.params.items()}
        return {key: str(value) for key, value in {**row, **shown}.items()}

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, markup=False, soft_wrap=not self.console.is_terminal)

    def __exit__(self, *exc_info) -> None:
        if self.live is not None:
            self.live.stop()


def param_cell(value) -> str:
    """A swept value in a table: floats in 4 significant digits, others as --set writes them."""
    return number(value) if isinstance(value, float) else value_text(value)


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
        score = (
            "-" if point["mean"] is None else f"{number(point['mean'])} ± {number(point['std'])}"
        )
        statuses = ", ".join(f"{n} {status}" for status, n in point["statuses"].items())
        table.add_row(
            str(rank),
            *(param_cell(point["params"][key]) for key in summary["params"]),
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
        f"best: {params_text(best['params'])}: {summary['metric']} {number(best['mean'])} ± "
        f"{number(best['std'])} over {best['runs']} run(s) ({', '.join(best['trials'])}); {counts}"
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
            *(cell(row.get(m)) for m in metrics),
            str(row.get("epochs", "-")),
            cell(row.get("seconds"), 3),
            *(row["params"].get(p, "-") for p in params),
        )
    return table
