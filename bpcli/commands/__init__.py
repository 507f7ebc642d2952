"""The command line: the Typer app (app.py), one module per command, and all terminal rendering
(render.py). Commands parse, call the library (bpcli.api), print.

Command modules import only Typer at the top and the library inside each command, so that `bpcli --help`
and `bpcli --version` start without loading NumPy or pydantic.
"""

from bpcli.commands import (  # noqa: F401 (each module registers its command with the app)
    eval,
    explain,
    export,
    gradcheck,
    inspect,
    plot,
    predict,
    runs,
    sweep,
    train,
    validate,
)
from bpcli.commands.app import app, finish_stdout


def main() -> None:
    """Entry point of the `bpcli` script and `python -m bpcli`."""
    try:
        app(prog_name="bpcli")
    finally:
        finish_stdout()


__all__ = ["app", "main"]
