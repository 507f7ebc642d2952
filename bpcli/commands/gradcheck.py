"""`bpcli gradcheck`: backprop's gradients against central differences; exit 1 if any tensor fails."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bpcli.commands.app import JsonOption, SetOption, command, examples, positive, user_errors


@command(
    epilog=examples(
        "bpcli gradcheck configs/moons.yaml",
        "bpcli gradcheck runs/iris --json",
        "bpcli gradcheck configs/digits.yaml --max-params 200",
    )
)
def gradcheck(
    target: Annotated[
        Path,
        typer.Argument(help="YAML config (fresh init) or run folder.", metavar="CONFIG|RUN_DIR"),
    ],
    samples: Annotated[
        int, typer.Option("--samples", min=1, help="Training rows in the batch.", metavar="N")
    ] = 8,
    eps: Annotated[
        float, typer.Option("--eps", callback=positive, help="Finite-difference step.", metavar="E")
    ] = 1e-5,
    tol: Annotated[
        float,
        typer.Option(
            "--tol",
            callback=positive,
            help="Largest error, relative to each tensor's gradient scale, that passes.",
            metavar="T",
        ),
    ] = 1e-6,
    max_params: Annotated[
        int,
        typer.Option(
            "--max-params",
            min=0,
            help="At most K entries per tensor, sampled; 0 = all.",
            metavar="K",
        ),
    ] = 5000,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare backprop's gradients with central differences (float64); exit 1 if any tensor fails."""
    with user_errors():
        from bpcli import api
        from bpcli.commands.render import gradcheck_table, gradcheck_verdict, stderr_console
        from bpcli.runs.files import json_line

        result = api.gradcheck(
            target,
            samples=samples,
            eps=eps,
            tol=tol,
            max_params=max_params,
            overrides=overrides or [],
        )
        console = stderr_console()
        if as_json:
            typer.echo(json_line({"target": str(target), **result.as_dict()}))
        else:
            title = f"gradient check: {result.origin}, {result.samples} rows, loss {result.loss}"
            if result.targets_standardized:
                title += " on standardized targets"
            if result.weight_decay:
                title += f" + weight decay {result.weight_decay:g}"
            console.print(gradcheck_table(result.checks, title))
        console.print(gradcheck_verdict(result.checks, tol))
    if not result.passed:
        raise typer.Exit(1)
