"""`bpcli eval`: metrics of a saved run on a split or other data; `--fail-under` gates for pipelines."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bpcli.commands.app import JsonOption, RunArg, command, examples, user_errors


@command(
    "eval",
    epilog=examples(
        "bpcli eval runs/iris",
        "bpcli eval runs/iris --split validation",
        "bpcli eval runs/iris --data new.csv --json",
        "bpcli eval runs/iris --fail-under accuracy=0.9",
    ),
)
def eval_command(
    run: RunArg,
    data: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--data",
            help="Other labelled data (built-in name or .csv/.npz/.npy) instead of a split.",
            metavar="SOURCE",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--split",
            help="The run's own split: test (the default), validation or train.",
            show_default=False,
            metavar="SPLIT",
        ),
    ] = None,
    as_json: JsonOption = False,
    fail_under: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--fail-under",
            help="Exit 1 unless METRIC reaches VALUE (repeatable; loss, mse, rmse, mae: at most VALUE).",
            metavar="METRIC=VALUE",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Evaluate a trained run on its test split (or another split, or other data)."""
    with user_errors():
        from bpcli import api
        from bpcli.commands.render import eval_tables, stderr_console
        from bpcli.core.metrics import missed_bars, parse_bars
        from bpcli.errors import DataError
        from bpcli.runs.files import json_line

        if data is not None and split is not None:
            raise DataError("give either --split or --data, not both")
        bars = parse_bars(fail_under or [])
        loaded = api.load(run)
        report = loaded.evaluate(split or "test", data)
        missed = missed_bars(bars, report.metrics)
        console = stderr_console()
        if as_json:
            document = {"run": str(run), "data": report.origin, **report.as_dict()}
            if bars:
                document["fail_under"] = {b.metric: b.value for b in bars}
                document["passed"] = not missed
            typer.echo(json_line(document))
        else:
            console.print(
                f"{loaded.name}: {report.origin}, {report.rows} rows", style="bold", markup=False
            )
            for table in eval_tables(report):
                console.print(table)
        for message in missed:
            console.print(f"[bold red]fail-under:[/bold red] {message}")
    if missed:
        raise typer.Exit(1)
