"""The Typer app: global options, the options commands share, and the one place where errors become
exit codes.

Exit codes: 0 ok, 1 a check failed or training diverged, 2 usage/config/data error, 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM). Results go to stdout; progress, tables and messages to stderr.
"""

from __future__ import annotations

import errno
import io
import os
import sys
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


WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
"""Errors that only a write can raise."""


@contextmanager
def user_errors():
    """Turn bpcli's errors into one message on stderr and their exit code: BpcliError 2 (or its own),
    an OSError 2 naming the file and the reason, MemoryError 2, Ctrl-C 130, SIGTERM 143; a reader of
    stdout that left early (EPIPE, `| head`) a quiet 0."""
    from rich.markup import escape

    from bpcli.commands.render import stderr_console
    from bpcli.errors import BpcliError, reason
    from bpcli.training.signals import terminate_raises

    def fail(message: str, hint: str | None = None, code: int = 2):
        hint_text = f"\n  [dim]hint: {escape(hint)}[/dim]" if hint else ""
        stderr_console().print(f"[bold red]error:[/bold red] {escape(message)}{hint_text}")
        raise typer.Exit(code) from None

    try:
        with terminate_raises():
            yield
    except KeyboardInterrupt as interrupt:
        stderr_console().print("interrupted", style="yellow")
        raise typer.Exit(getattr(interrupt, "exit_code", 130)) from None
    except BrokenPipeError:
        silence_stdout()
        raise typer.Exit(0) from None
    except OSError as error:
        where = error.filename
        if where is None and error.errno in WRITE_ERRORS:
            # files are written atomically and name themselves (runs.atomic): this was stdout
            silence_stdout()
            where = "stdout"
        fail(f"{where}: {reason(error)}" if where else f"input/output error: {reason(error)}")
    except MemoryError:
        fail("out of memory", "the data or the network is too large for this machine")
    except BpcliError as error:
        fail(error.message, error.hint, error.exit_code)


def silence_stdout() -> None:
    """Point stdout's file descriptor at /dev/null (its reader left, or its disk is full)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file descriptor (a test runner's buffer): nothing to protect


def finish_stdout() -> None:
    """Flush stdout at the end of a command; a disk-full or closed stdout is exit 2 (EPIPE: 0)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    except OSError as error:
        silence_stdout()
        sys.stderr.write(f"error: stdout: {error.strerror or error}\n")
        sys.exit(2)


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
