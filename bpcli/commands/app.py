"""The Typer app: global options, the options commands share, and the one place where errors become
exit codes.

Exit codes: 0 ok, 1 a check failed or training diverged, 2 usage/config/data error, 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM). Results go to stdout; progress, tables and messages to stderr.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from bpcli import __version__

app = typer.Typer(
    name="bpcli",
    help="Train multilayer perceptrons from YAML files by hand-written NumPy backpropagation.",
    epilog="Example:  bpcli train configs/digits.yaml  |  bpcli COMMAND --help shows each "
    "command's examples",
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

    from bpcli.commands.render import stderr_console

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
        hint = f"\n  [dim]hint: {escape(error.hint)}[/dim]" if error.hint else ""
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


def positive(value: float) -> float:
    if not value > 0:
        raise typer.BadParameter(f"must be above 0, got {value}")
    return value


RunArg = Annotated[
    Path, typer.Argument(help="Run folder written by bpcli train.", show_default=False)
]
