"""The `bpcli` command line: parse, call the library, print. The one place errors become exit codes.

Exit codes: 0 ok, 1 a check failed or training diverged, 2 usage/config/data error, 130 interrupted.
Results go to stdout; progress, tables and messages to stderr. Heavy imports (numpy, pydantic, the
engine) happen inside the commands, so `bpcli --help` and `bpcli --version` start fast.
"""

from __future__ import annotations

import json
import sys
import time
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
    "bpcli train configs/moons.yaml --out runs/moons --force --json"
)
def train(
    config: ConfigArg,
    overrides: SetOption = None,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", "-o", help="Exact run folder (default: <output.dir>/<name>-<time>)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Allow --out to be a non-empty folder.")
    ] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train a network from CONFIG and save the run folder; prints its path (or JSON summary)."""
    with user_errors():
        from bpcli.config import load_config
        from bpcli.display import TrainingDisplay, metrics_table, stderr_console
        from bpcli.runs import new_run_dir, save_run
        from bpcli.train import final_metrics, fit, setup

        resolved = load_config(config, overrides or [])
        experiment = setup(resolved)
        run_dir = new_run_dir(resolved.output.dir, resolved.name, out, force)
        console = stderr_console()
        started = time.perf_counter()
        with TrainingDisplay(console, resolved.training.epochs, resolved.name, quiet) as display:
            observer = None
            if resolved.training.diagnostics:
                from bpcli.diagnostics import Diagnostics

                observer = Diagnostics(experiment.network, display.warn)
            history = fit(experiment, display.on_epoch, observer)
        summary = save_run(
            run_dir, experiment, history, final_metrics(experiment), time.perf_counter() - started
        )
        if observer is not None:
            observer.save(run_dir)
        if not quiet:
            from bpcli.textchart import loss_chart, summary_line

            console.print(metrics_table(summary["metrics"], f"{resolved.name}: final metrics"))
            console.print(
                loss_chart(history.epochs), summary_line(history.epochs), sep="\n", markup=False
            )
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


@app.command(
    epilog="Examples:  bpcli plot runs/digits-20250101-120000  |  "
    "bpcli plot runs/adam runs/sgd --metric accuracy -o compare.png  |  "
    "bpcli plot runs/moons --boundary -o boundary.png"
)
def plot(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Run folder(s) written by bpcli train.", show_default=False)
    ],
    metric: Annotated[
        str,
        typer.Option("--metric", "-m", help="Metric to draw (loss, accuracy, mae, r2, lr, ...)."),
    ] = "loss",
    boundary: Annotated[
        bool,
        typer.Option("--boundary", help="Draw the decision regions of one 2-feature classifier."),
    ] = False,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--out",
            "-o",
            help="Picture file, .png, .svg or .pdf (default: curves.png or boundary.png inside the "
            "run folder; ./curves.png for several runs).",
        ),
    ] = None,
) -> None:
    """Draw train and validation curves of runs, or a run's decision regions; prints the file path."""
    with user_errors():
        from bpcli.errors import BpcliError
        from bpcli.plots import decision_boundary, learning_curves, require_matplotlib

        require_matplotlib()
        if boundary:
            from bpcli.runs import LoadedRun

            if len(run_dirs) != 1:
                raise BpcliError("--boundary draws one run at a time", "give a single RUN_DIR")
            path = decision_boundary(LoadedRun(run_dirs[0]), out or run_dirs[0] / "boundary.png")
        else:
            default = run_dirs[0] / "curves.png" if len(run_dirs) == 1 else Path("curves.png")
            path = learning_curves(run_dirs, metric, out or default)
        typer.echo(str(path))


@app.command(
    "inspect",
    epilog="Examples:  bpcli inspect runs/digits-20250101-120000  |  "
    "bpcli inspect runs/moons --json | jq .training.best_epoch",
)
def inspect_run(
    run_dir: Annotated[
        Path, typer.Argument(help="Run folder written by bpcli train.", show_default=False)
    ],
    as_json: JsonOption = False,
) -> None:
    """Report on a saved run: config, parameters per layer, metrics, best epoch, diagnostics, files."""
    with user_errors():
        from rich.console import Console

        from bpcli.inspection import build_report, render

        report = build_report(run_dir)
        if as_json:
            typer.echo(json.dumps(report))
            return
        console = Console(highlight=False)
        for part in render(report):
            console.print(part)


def main() -> None:
    """Entry point of the `bpcli` script and `python -m bpcli`."""
    app(prog_name="bpcli")


if __name__ == "__main__":
    sys.exit(main())
