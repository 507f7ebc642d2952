"""`bpcli plot`: learning curves of runs, or the decision regions of a 2-feature classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bpcli.commands.app import command, examples, user_errors


@command(
    epilog=examples(
        "bpcli plot runs/digits",
        "bpcli plot runs/adam runs/sgd -m accuracy -o compare.png",
        "bpcli plot runs/moons --boundary -o boundary.png",
    )
)
def plot(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Run folder(s) written by bpcli train.", metavar="RUN_DIR", show_default=False
        ),
    ],
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            "-m",
            help="Metric to draw (loss, accuracy, mae, r2, lr, ...).",
            metavar="NAME",
        ),
    ] = "loss",
    boundary: Annotated[
        bool,
        typer.Option("--boundary", help="Draw the decision regions of one 2-feature classifier."),
    ] = False,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--out",
            "-o",
            help="Picture file, .png, .svg or .pdf (default: curves.png or boundary.png inside the "
            "run folder; ./curves.png for several runs).",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Draw train and validation curves of runs, or a run's decision regions; prints the file path."""
    with user_errors():
        from bpcli import api
        from bpcli.errors import BpcliError
        from bpcli.plots import require_matplotlib

        require_matplotlib()
        if boundary:
            if len(run_dirs) != 1:
                raise BpcliError("--boundary draws one run at a time", "give a single RUN_DIR")
            path = api.plot_boundary(api.load(run_dirs[0]), out or run_dirs[0] / "boundary.png")
        else:
            default = run_dirs[0] / "curves.png" if len(run_dirs) == 1 else Path("curves.png")
            path = api.plot_curves(run_dirs, metric, out or default)
        typer.echo(str(path))
