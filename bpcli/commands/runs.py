"""`bpcli runs`: a table of the run folders under a folder (sweep trials included), or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bpcli.commands.app import JsonOption, command, examples, user_errors


@command(
    epilog=examples(
        "bpcli runs",
        "bpcli runs runs/iris-sweep --sort val_accuracy",
        "bpcli runs runs --sort test_loss --json | jq '.[0].run'",
    )
)
def runs(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder holding run folders, searched recursively (default: runs).",
            metavar="DIR",
            show_default=False,
        ),
    ] = Path("runs"),
    sort: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--sort",
            "-s",
            help="Best first by this column, e.g. val_accuracy, test_loss, seconds (losses, "
            "errors and seconds smallest first).",
            metavar="COLUMN",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the runs under DIR: task, validation and test metrics, epochs, seconds, swept values."""
    with user_errors():
        from bpcli import api
        from bpcli.commands.render import print_wide, runs_table, stderr_console
        from bpcli.runs.files import json_line

        rows = api.list_runs(folder, sort)
        if as_json:
            typer.echo(json_line(rows))
            return
        if not rows:
            stderr_console().print(f"no run folders under {folder}", markup=False)
            return
        print_wide(stderr_console(), runs_table(rows, f"{len(rows)} runs under {folder}"))
