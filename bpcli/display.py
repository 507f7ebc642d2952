"""What a person sees on stderr: a Rich progress bar on a terminal, plain epoch lines elsewhere, tables."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

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


class TrainingDisplay:
    """Follows training through `on_epoch`: a live bar on a terminal, one line per epoch otherwise."""

    def __init__(self, console: Console, epochs: int, title: str, quiet: bool = False):
        self.console, self.epochs, self.title, self.quiet = console, epochs, title, quiet
        self.progress: Progress | None = None
        self.task = None

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
            self.task = self.progress.add_task(self.title, total=self.epochs, metrics="")
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
        """A problem seen during training (e.g. dead ReLUs), printed above the bar; silent if quiet."""
        if not self.quiet:
            text = Text.assemble(("warning: ", "bold yellow"), message)
            if hint:
                text.append(f"\n  {hint}", style="dim")
            self.console.print(text)

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
