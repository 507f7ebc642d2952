"""`bpcli explain`: the forward and backward equations of a network, with its real shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bpcli.commands.app import SetOption, command, examples, user_errors


@command(
    "explain",
    epilog=examples(
        "bpcli explain configs/xor.yaml",
        "bpcli explain runs/digits --batch 1",
        "bpcli explain configs/digits.yaml --markdown > bp.md",
    ),
)
def explain_command(
    target: Annotated[
        Path,
        typer.Argument(
            help="YAML config file or run folder.", metavar="CONFIG|RUN_DIR", show_default=False
        ),
    ],
    batch: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--batch",
            "-n",
            min=1,
            metavar="N",
            help="Rows n in the shapes (default: the batch size training uses).",
            show_default=False,
        ),
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Markdown with LaTeX math instead of plain text.")
    ] = False,
    overrides: SetOption = None,
) -> None:
    """Print the forward and backward pass of a network as equations with their real shapes."""
    with user_errors():
        from bpcli import api
        from bpcli.explanation import render_markdown, render_text

        explanation = api.explain(target, batch=batch, overrides=overrides or [])
        render = render_markdown if markdown else render_text
        typer.echo(render(explanation), nl=False)
