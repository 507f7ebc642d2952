"""`bpcli plot`: learning curves of runs, the decision regions of a 2-feature classifier, or a
sweep's metric against each swept parameter."""

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
        "bpcli plot runs/isweep -m test_accuracy",
    )
)
def plot(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            help="Run folder(s) written by bpcli train, or one sweep folder.",
            metavar="RUN_DIR",
            show_default=False,
        ),
    ],
    metric: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--metric",
            "-m",
            help="Metric to draw: loss, accuracy, mae, r2, lr, ... (default: loss; for a sweep "
            "its metric, or val_loss, test_accuracy, ...).",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    boundary: Annotated[
        bool,
        typer.Option("--boundary", help="Draw the decision regions of one 2-feature classifier."),
    ] = False,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--out",
            "-o",
            help="Picture file, .png, .svg or .pdf (default: curves.png, boundary.png or sweep.png "
            "inside the folder; ./curves.png for several runs).",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Draw train and validation curves of runs, a run's decision regions, or a sweep's metric per
    swept value; prints the file path."""
    with user_errors():
        from bpcli import api
        from bpcli.errors import BpcliError
        from bpcli.plots import require_matplotlib
        from bpcli.runs.folder import CURVES, RunFolder

        require_matplotlib()
        if boundary:
            if len(run_dirs) != 1:
                raise BpcliError("--boundary draws one run at a time", "give a single RUN_DIR")
            path = api.plot_boundary(api.load(run_dirs[0]), out or RunFolder(run_dirs[0]).boundary)
        elif len(run_dirs) == 1 and api.is_sweep(run_dirs[0]):
            path = api.plot_sweep(run_dirs[0], metric, out)
        else:
            default = RunFolder(run_dirs[0]).curves if len(run_dirs) == 1 else Path(CURVES)
            path = api.plot_curves(run_dirs, metric or "loss", out or default)
        typer.echo(str(path))
