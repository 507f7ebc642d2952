"""`bpcli train`: train a config (or resume a run) into a run folder; print its path or summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bpcli.commands.app import (
    ForceOption,
    JsonOption,
    QuietOption,
    SetOption,
    command,
    examples,
    user_errors,
)


@command(
    epilog=examples(
        "bpcli train configs/digits.yaml",
        "run=$(bpcli train configs/iris.yaml -q)",
        "bpcli train configs/iris.yaml --set training.epochs=50",
        "bpcli train configs/moons.yaml -o runs/moons --force",
        "bpcli train --resume runs/moons",
    )
)
def train(
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(
            help="YAML config file (omitted with --resume).", metavar="CONFIG", show_default=False
        ),
    ] = None,
    overrides: SetOption = None,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--out",
            "-o",
            help="Exact run folder (default: a new one in output.dir, named <name>-<time>).",
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
    force: ForceOption = False,
    resume: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--resume",
            help="Continue the run in RUN_DIR from its checkpoint (after Ctrl-C, SIGTERM, "
            "divergence, or to train longer with --set training.epochs=N).",
            metavar="RUN_DIR",
            show_default=False,
        ),
    ] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train a network from CONFIG and save the run folder; prints its path (or JSON summary).

    Ctrl-C or SIGTERM stops at the next batch, saves a checkpoint and exits 130 or 143.
    """
    with user_errors():
        from bpcli import api
        from bpcli.commands.render import (
            TrainingDisplay,
            final_title,
            loss_chart,
            metrics_table,
            stderr_console,
            summary_line,
        )
        from bpcli.errors import ConfigError
        from bpcli.runs.files import json_line

        if resume is not None and (config is not None or out is not None or force):
            raise ConfigError(
                "--resume RUN_DIR continues that run with its own config",
                "give no CONFIG, --out or --force with --resume (change settings with --set)",
            )
        if resume is None and config is None:
            raise ConfigError(
                "missing CONFIG", "bpcli train CONFIG, or bpcli train --resume RUN_DIR"
            )
        console = stderr_console()
        display = TrainingDisplay(console, quiet)
        if resume is not None:
            run = api.resume(resume, overrides or [], listener=display)
        else:
            run = api.train(config, overrides or [], out=out, force=force, listener=display)
        if not quiet:
            chart = loss_chart(run.history, columns=console.width)
            console.print(chart, summary_line(run.history, run.summary), sep="\n", markup=False)
            console.print(metrics_table(run.summary["metrics"], final_title(run.name, run.summary)))
        typer.echo(json_line(run.summary) if as_json else str(run.path))
