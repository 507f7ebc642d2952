"""`bpcli sweep`: run the trials of a sweep spec side by side (local processes or Ray); print the sweep
folder's path or its summary."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from bpcli.commands.app import (
    ForceOption,
    JsonOption,
    QuietOption,
    command,
    examples,
    user_errors,
)


class BackendName(str, Enum):
    local = "local"
    ray = "ray"


@command(
    epilog=examples(
        "bpcli sweep configs/sweeps/iris.yaml",
        "bpcli sweep configs/sweeps/iris.yaml -w 2 -o runs/isweep",
        "bpcli sweep --resume runs/isweep",
        "bpcli sweep configs/sweeps/iris.yaml --backend ray",
    )
)
def sweep(
    spec: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(
            help="Sweep spec (YAML; omitted with --resume).", metavar="SPEC", show_default=False
        ),
    ] = None,
    workers: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="local: worker processes (default: the cores); ray: most trials at a time.",
            metavar="N",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--threads",
            min=1,
            help="BLAS threads per trial (default local: cores // workers; ray: 1).",
            metavar="N",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        BackendName,
        typer.Option(
            "--backend", help="Where trials run: local or ray (needs bpcli\\[ray]).", metavar="NAME"
        ),
    ] = BackendName.local,
    address: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--address",
            help="Ray cluster to join: auto or HOST:PORT (default: a local Ray instance).",
            metavar="ADDR",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--out",
            "-o",
            help="Sweep folder (default: a new folder in the base config's output.dir).",
            metavar="DIR",
            show_default=False,
        ),
    ] = None,
    force: ForceOption = False,
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
    """Train every trial of SPEC (a grid or random search, seeds, folds) and rank them.

    Prints the sweep folder (or with --json its summary).
    Ctrl-C or SIGTERM checkpoints the running trials and exits 130 or 143; --resume continues.
    """
    with user_errors():
        from bpcli import api
        from bpcli.commands.render import (
            SweepDisplay,
            best_line,
            print_wide,
            stderr_console,
            sweep_table,
        )
        from bpcli.errors import ConfigError
        from bpcli.runs.files import json_line

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
        if resume is not None:
            result = api.resume_sweep(resume, **options)
        else:
            result = api.sweep(spec, out=out, force=force, **options)
        if not quiet:
            if result.summary["points"]:
                print_wide(console, sweep_table(result.summary))
            console.print(best_line(result.summary), markup=False)
        typer.echo(json_line(result.summary) if as_json else str(result.path))
