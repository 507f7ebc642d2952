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
from typer.core import TyperCommand, TyperGroup

from bpcli import __version__

# ---------------------------------------------------------------------------- help like a man page


def value_name(param) -> str:
    """What a parameter's value is called in help and usage (RUN_DIR, FILE, KEY=VALUE); '' for a
    flag, which takes no value."""
    if getattr(param, "is_flag", False):
        return ""
    return param.metavar or param.name.upper()


def value_column(param) -> str:
    """The help's column beside an option's name: its value's name; empty for flags and for
    arguments (whose name already is the value's name)."""
    return "" if param.param_type_name == "argument" else value_name(param)


def synopsis(param) -> str:
    """A parameter as a man page's usage line shows it: RUN_DIR..., [INPUT], [-o FILE],
    [--set KEY=VALUE]..., [--force]; '' for --help."""
    if param.param_type_name == "argument":
        text = value_name(param) + ("..." if param.nargs == -1 else "")
        return text if param.required else f"[{text}]"
    if "--help" in param.opts:
        return ""
    text = " ".join(filter(None, [min(param.opts, key=len), value_name(param)]))
    text = text if param.required else f"[{text}]"
    return text + ("..." if param.multiple else "")


class ManPage:
    """Help that reads like a man page: `bpcli plot RUN_DIR... [-m NAME] [--boundary] [-o FILE]`,
    and beside each parameter the name of its value (nothing for a flag) instead of a Python type."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            # Typer's help shows display_type_rich: <bool>, <path>, <list[Path]> by default.
            param.display_type_rich = lambda ctx, param=param: value_column(param)
        return params


class Command(ManPage, TyperCommand):
    """A bpcli command: man-page usage line and parameters."""

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [piece for piece in map(synopsis, self.get_params(ctx)) if piece]

    def format_usage(self, ctx, formatter) -> None:
        """The usage line, wrapped between parameters (never inside `[-o FILE]`), hanging indent."""
        prefix = f"Usage: {ctx.command_path} "
        width = max(formatter.width - len(prefix), 20)
        lines = [""]
        for piece in self.collect_usage_pieces(ctx):
            if lines[-1] and len(lines[-1]) + 1 + len(piece) > width:
                lines.append("")
            lines[-1] = f"{lines[-1]} {piece}".lstrip()
        formatter.write(prefix + f"\n{' ' * len(prefix)}".join(lines) + "\n")


class Group(ManPage, TyperGroup):
    """The bpcli app: `bpcli [OPTIONS] COMMAND [ARGS]...`, parameters named as in commands."""


def examples(*lines: str) -> str:
    """An epilog of examples, one per line as typed (short enough for 60 columns; Rich markup
    escaped, so `--set model.hidden='[128]'` shows as written)."""
    return "Examples:\n" + "\n".join(line.replace("[", r"\[") for line in lines)


app = typer.Typer(
    cls=Group,
    name="bpcli",
    help="Train multilayer perceptrons from YAML files by hand-written NumPy backpropagation.",
    epilog=examples(
        "bpcli train configs/digits.yaml",
        "bpcli train --help     (every command's help has examples)",
        "bpcli --install-completion     (TAB completion)",
    ),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def command(name: str | None = None, *, epilog: str):
    """Register a command with the app: `@command(epilog=examples(...))`."""
    return app.command(name, cls=Command, epilog=epilog)


def key_values(values: list[str] | None) -> list[str]:
    """--set values; each must be KEY=VALUE (`--set optimizer.lr 0.01` would read 0.01 as CONFIG)."""
    for value in values or []:
        if "=" not in value:
            raise typer.BadParameter(
                f"'{value}' is not KEY=VALUE: write --set {value}=VALUE as one argument"
            )
    return values or []


ConfigArg = Annotated[
    Path, typer.Argument(help="YAML config file.", metavar="CONFIG", show_default=False)
]
SetOption = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs typing.Optional on Python 3.10
    typer.Option(
        "--set",
        help="Override a config key, value parsed as YAML (repeatable): --set optimizer.lr=0.01",
        metavar="KEY=VALUE",
        callback=key_values,
        show_default=False,
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but the result.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Allow --out to be a non-empty folder.")]


WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
"""Errors that only a write can raise."""


@contextmanager
def user_errors():
    """Turn bpcli's errors into one message on stderr and their exit code: BpcliError 2 (or its own),
    an OSError 2 naming the file and the reason, MemoryError 2, Ctrl-C 130, SIGTERM 143; a stop that
    left a state to resume (errors.Interrupted) as a note with the command that continues; a reader
    of stdout that left early (EPIPE, `| head`) a quiet 0."""
    from rich.markup import escape

    from bpcli.commands.render import stderr_console
    from bpcli.errors import BpcliError, Interrupted, reason
    from bpcli.training.signals import SecondSignal, terminate_raises

    def fail(message: str, hint: str | None = None, code: int = 2):
        hint_text = f"\n  [dim]hint: {escape(hint)}[/dim]" if hint else ""
        stderr_console().print(f"[bold red]error:[/bold red] {escape(message)}{hint_text}")
        raise typer.Exit(code) from None

    try:
        with terminate_raises():
            yield
    except KeyboardInterrupt as interrupt:
        second = isinstance(interrupt, SecondSignal)
        message = "stopped at once by a second signal; files already written are intact"
        stderr_console().print(message if second else "interrupted", style="yellow")
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
    except Interrupted as stop:
        stderr_console().print(
            f"[yellow]{escape(stop.message)}[/yellow]\n{escape(stop.hint or '')}"
        )
        raise typer.Exit(stop.exit_code) from None
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
    """Train multilayer perceptrons from YAML files by hand-written NumPy backpropagation."""


def positive(value: float) -> float:
    if not value > 0:
        raise typer.BadParameter(f"must be above 0, got {value}")
    return value


RunArg = Annotated[
    Path,
    typer.Argument(
        help="Run folder written by bpcli train.", metavar="RUN_DIR", show_default=False
    ),
]
