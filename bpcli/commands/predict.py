"""`bpcli predict`: CSV predictions of a saved run for a .csv/.npy/.npz file or CSV on stdin."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from bpcli.commands.app import RunArg, command, examples, user_errors


@command(
    epilog=examples(
        "bpcli predict runs/iris flowers.csv",
        "cat big.csv | bpcli predict runs/iris - | head",
        "bpcli predict runs/iris flowers.csv --proba -o out.csv",
    )
)
def predict(
    run: RunArg,
    source: Annotated[
        str,
        typer.Argument(
            help="Features: a .csv (header with the training columns), .npy or .npz file; "
            "- (the default) reads CSV from stdin.",
            metavar="INPUT",
            show_default=False,
        ),
    ] = "-",
    proba: Annotated[
        bool, typer.Option("--proba", help="Add one probability column per class (proba_<label>).")
    ] = False,
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--output",
            "-o",
            help="Write the CSV to FILE (atomically) instead of stdout.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Predict with a trained run; writes CSV with a prediction column (labels as in training).

    When the reader of stdout stops early (bpcli predict ... | head), predict stops quietly with exit 0.
    """
    with user_errors():
        from bpcli import api
        from bpcli.commands.render import stderr_console
        from bpcli.errors import DataError
        from bpcli.runs.predict import atomic_output

        console = stderr_console()
        loaded = api.load(run)
        if proba and loaded.task == "regression":
            raise DataError("--proba applies to classifiers; this run is a regression model")
        if source == "-" and sys.stdin.isatty():
            raise DataError(
                "no INPUT given and stdin is a terminal", "pass a file, or pipe CSV into -"
            )
        stdin = sys.stdin
        if source == "-" and hasattr(sys.stdin, "buffer"):
            stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")

        def note(message: str) -> None:
            console.print(f"note: {message}", markup=False)

        if output is None:
            # a reader that leaves (| head) is a quiet exit 0: see commands.app.user_errors
            api.predict_csv(loaded, source, sys.stdout, proba=proba, stdin=stdin, on_note=note)
            return
        with atomic_output(output) as stream:
            count = api.predict_csv(loaded, source, stream, proba=proba, stdin=stdin, on_note=note)
        console.print(f"wrote {count} predictions to {output}", markup=False)
