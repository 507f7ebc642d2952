"""`bpcli sweep`: run the trials of a sweep spec side by side (local processes or Ray); print the sweep
folder's path or its summary."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from bpcli.commands.app import JsonOption, QuietOption, app, user_errors


class BackendName(str, Enum):
    local = "local"
    ray = "ray"


@app.command(
    epilog="Examples:  bpcli sweep configs/sweep_iris.yaml --workers 2  |  "
    "bpcli sweep spec.yaml --out runs/sweep --force --json  |  "
    "bpcli sweep --resume runs/sweep  |  "
    "bpcli sweep spec.yaml --backend ray --address 10.0.0.1:6379  |  "
    "bpcli runs runs/sweep --sort val_accuracy"
)
def sweep(
    spec: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(help="Sweep spec (YAML; omitted with --resume).", show_default=False),
    ] = None,
    workers: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="local: worker processes (default: the cores); ray: most trials at a time.",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--threads",
            min=1,
            help="BLAS threads per trial (default local: cores // workers; ray: 1).",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        BackendName, typer.Option("--backend", help="Where trials run (ray needs bpcli[ray]).")
    ] = BackendName.local,
    address: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--address",
            help="Ray cluster to join: auto or HOST:PORT (default: a local Ray instance).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", "-o", help="Sweep folder (default: <output.dir>/<spec>-<time>)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow --out to be a non-empty folder.")
    ] = False,
    resume: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--resume",
            help="Run what the sweep in SWEEP_DIR is missing (after Ctrl-C or SIGTERM).",
            metavar="SWEEP_DIR",
            show_default=False,
        ),
    ] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train every trial of SPEC (a grid or random search over config keys, seeds, folds) and rank them.

    Prints the sweep folder (or with --json its summary). Ctrl-C or SIGTERM checkpoints the running
    trials and exits 130 or 143; --resume continues.
    """
    with user_errors():
        from rich.markup import escape

        from bpcli import api
        from bpcli.commands.render import (
            SweepDisplay,
            best_line,
            print_wide,
            stderr_console,
            sweep_table,
        )
        from bpcli.errors import ConfigError
        from bpcli.sweeps.driver import SweepInterrupted
        from bpcli.training.signals import SecondSignal

        if resume is not None and (spec is not None or out is not None or force):
            raise ConfigError(
                "--resume SWEEP_DIR continues that sweep with its own spec",
                "give no SPEC, --out or --force with --resume",
            )
        if resume is None and spec is None:
            raise ConfigError("missing SPEC", "bpcli sweep SPEC, or bpcli sweep --resume SWEEP_DIR")
        console = stderr_console()
        display = SweepDisplay(console, quiet)
        options = {
            "backend": backend.value,
            "workers": workers,
            "threads": threads,
            "address": address,
            "listener": display,
        }
        try:
            if resume is not None:
                result = api.resume_sweep(resume, **options)
            else:
                result = api.sweep(spec, out=out, force=force, **options)
        except SweepInterrupted as stop:
            console.print(f"[yellow]{escape(stop.message)}[/yellow]\n{escape(stop.hint or '')}")
            raise typer.Exit(stop.exit_code) from None
        except SecondSignal as second:
            console.print(
                "stopped at once by a second signal; files already written are intact",
                style="yellow",
            )
            raise typer.Exit(second.exit_code) from None
        if not quiet:
            if result.summary["points"]:
                print_wide(console, sweep_table(result.summary))
            console.print(best_line(result.summary), markup=False)
        typer.echo(json.dumps(result.summary) if as_json else str(result.path))
