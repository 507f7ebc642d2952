"""`bpcli inspect`: a report on a saved run (config, layers, metrics, best epoch, diagnostics, files)."""

from __future__ import annotations

import typer

from bpcli.commands.app import JsonOption, RunArg, command, examples, user_errors


@command(
    "inspect",
    epilog=examples(
        "bpcli inspect runs/digits",
        "bpcli inspect runs/moons --json | jq .training.best_epoch",
    ),
)
def inspect_run(run_dir: RunArg, as_json: JsonOption = False) -> None:
    """Report on a saved run: config, parameters per layer, metrics, best epoch, diagnostics, files."""
    with user_errors():
        from rich.console import Console

        from bpcli import api
        from bpcli.commands.render import inspect_parts
        from bpcli.runs.files import json_line

        report = api.inspect(run_dir)
        if as_json:
            typer.echo(json_line(report))
            return
        console = Console(highlight=False)
        for part in inspect_parts(report):
            console.print(part)
