"""Rich tables for `bpcli eval` and `bpcli gradcheck` reports (rendering only; results come computed)."""

from __future__ import annotations

from rich.table import Table

from bpcli.evaluation import Report
from bpcli.gradcheck import TensorCheck


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
