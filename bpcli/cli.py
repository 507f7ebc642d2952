"""The `bpcli` command line: parse, call the library, print. The one place errors become exit codes.

Exit codes: 0 ok, 1 a check failed or training diverged, 2 usage/config/data error, 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM).
Results go to stdout; progress, tables and messages to stderr. Heavy imports (numpy, pydantic, the
engine) happen inside the commands, so `bpcli --help` and `bpcli --version` start fast.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from bpcli import __version__

app = typer.Typer(
    name="bpcli",
    help="Train multilayer perceptrons from YAML files by hand-written NumPy backpropagation.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigArg = Annotated[Path, typer.Argument(help="YAML config file.", show_default=False)]
SetOption = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs typing.Optional on Python 3.10
    typer.Option(
        "--set",
        help="Override a config key, value parsed as YAML (repeatable): --set optimizer.lr=0.01",
        metavar="KEY.PATH=VALUE",
        show_default=False,
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but the result.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]


@contextmanager
def user_errors():
    """Turn bpcli's errors into one message on stderr and their exit code; Ctrl-C into exit 130."""
    from rich.markup import escape

    from bpcli.display import stderr_console

    try:
        yield
    except KeyboardInterrupt:
        stderr_console().print("interrupted", style="yellow")
        raise typer.Exit(130) from None
    except Exception as error:
        from bpcli.errors import BpcliError

        if not isinstance(error, BpcliError):
            raise
        message = escape(error.message)
        hint = f"\n[dim]{escape(error.hint)}[/dim]" if error.hint else ""
        stderr_console().print(f"[bold red]error:[/bold red] {message}{hint}")
        raise typer.Exit(error.exit_code) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bpcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Train multilayer perceptrons from YAML files by hand-written NumPy backpropagation.

    Example: bpcli train configs/digits.yaml
    """


@app.command(
    epilog="Examples:  bpcli train configs/digits.yaml  |  "
    "run=$(bpcli train configs/iris.yaml --quiet --set training.epochs=50)  |  "
    "bpcli train configs/moons.yaml --out runs/moons --force --json  |  "
    "bpcli train --resume runs/moons"
)
def train(
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(help="YAML config file (omitted with --resume).", show_default=False),
    ] = None,
    overrides: SetOption = None,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", "-o", help="Exact run folder (default: <output.dir>/<name>-<time>)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow --out to be a non-empty folder.")
    ] = False,
    resume: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--resume",
            help="Continue the run in RUN_DIR from its checkpoint.npz (after Ctrl-C, SIGTERM, "
            "divergence, or to train longer with --set training.epochs=N).",
            metavar="RUN_DIR",
            show_default=False,
        ),
    ] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train a network from CONFIG and save the run folder; prints its path (or JSON summary).

    Ctrl-C or SIGTERM stops at the next batch, saves checkpoint.npz and exits 130 or 143.
    """
    with user_errors():
        from rich.markup import escape

        from bpcli.display import metrics_table, stderr_console
        from bpcli.errors import ConfigError
        from bpcli.safety import TrainingInterrupted
        from bpcli.session import train_session
        from bpcli.signals import SecondSignal

        if resume is not None and (config is not None or out is not None or force):
            raise ConfigError(
                "--resume RUN_DIR continues that run with its own config.yaml",
                "give no CONFIG, --out or --force with --resume (change settings with --set)",
            )
        if resume is None and config is None:
            raise ConfigError(
                "missing CONFIG", "bpcli train CONFIG, or bpcli train --resume RUN_DIR"
            )
        console = stderr_console()
        try:
            run_dir, summary = train_session(config, overrides or [], out, force, resume, quiet)
        except TrainingInterrupted as stop:
            console.print(f"[yellow]{escape(stop.message)}[/yellow]\n{escape(stop.hint or '')}")
            raise typer.Exit(stop.exit_code) from None
        except SecondSignal as second:
            console.print(
                "stopped at once by a second signal; files already written are intact",
                style="yellow",
            )
            raise typer.Exit(second.exit_code) from None
        if not quiet:
            console.print(metrics_table(summary["metrics"], f"{summary['name']}: final metrics"))
        typer.echo(json.dumps(summary) if as_json else str(run_dir))


@app.command(
    epilog="Examples:  bpcli validate configs/digits.yaml  |  "
    "bpcli validate configs/iris.yaml --set model.hidden=[32,16] > resolved.yaml"
)
def validate(config: ConfigArg, overrides: SetOption = None) -> None:
    """Check CONFIG and its data without training; print the fully resolved config as YAML."""
    with user_errors():
        from bpcli.config import load_config, to_yaml
        from bpcli.display import stderr_console
        from bpcli.train import setup

        resolved = load_config(config, overrides or [])
        experiment = setup(resolved)
        sizes = ", ".join(f"{len(s)} {name}" for name, s in experiment.data.splits.items())
        widths = "-".join(map(str, experiment.network.widths))
        stderr_console().print(
            f"config ok: {sizes} rows; network {widths} "
            f"({experiment.network.parameter_count():,} parameters)",
            markup=False,
        )
        typer.echo(to_yaml(resolved), nl=False)


def main() -> None:
    """Entry point of the `bpcli` script and `python -m bpcli`."""
    app(prog_name="bpcli")


if __name__ == "__main__":
    sys.exit(main())
