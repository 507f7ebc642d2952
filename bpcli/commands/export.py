"""`bpcli export`: a run's whole prediction as an ONNX model; `--check` compares it in onnxruntime."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from bpcli.commands.app import JsonOption, RunArg, command, examples, user_errors


class Format(str, Enum):
    onnx = "onnx"


class Dtype(str, Enum):
    float32 = "float32"
    float64 = "float64"


@command(
    epilog=examples(
        "bpcli export runs/iris",
        "bpcli export runs/iris -o iris.onnx --check",
        "bpcli export runs/sine --dtype float64 --opset 18",
    )
)
def export(
    run: RunArg,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--out",
            "-o",
            help="Model file, or a folder to write it into (default: the run folder).",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    format: Annotated[  # noqa: A002 - the option is --format
        Format, typer.Option("--format", help="Model format.", metavar="FORMAT")
    ] = Format.onnx,
    opset: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--opset", help="ONNX opset version (default 17).", metavar="N", show_default=False
        ),
    ] = None,
    dtype: Annotated[
        Optional[Dtype],  # noqa: UP045
        typer.Option(
            "--dtype",
            help="Floats of the model's input, weights and outputs (default float32, also for "
            "float64 runs).",
            metavar="DTYPE",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Run the model in onnxruntime on the run's test split; exit 1 if it differs from "
            "bpcli (probabilities or values by more than 1e-5 relative, or any label).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Export a trained run to ONNX (raw features in; probabilities and labels, or values, out);
    prints the model file's path. Needs bpcli\\[onnx]; --check also needs onnxruntime."""
    with user_errors():
        from bpcli import api
        from bpcli.commands.render import export_verdict, stderr_console

        result = api.export(
            run, out, opset=opset, dtype=dtype.value if dtype else None, check=check
        )
        console = stderr_console()
        for note in result.notes:
            console.print(f"[yellow]note:[/yellow] {note}")
        if result.comparison:
            console.print(export_verdict(result.comparison))
        typer.echo(json.dumps(result.as_dict()) if as_json else str(result.path))
    if result.comparison and not result.comparison.passed:
        raise typer.Exit(1)
