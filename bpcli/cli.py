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


@app.command(
    "explain",
    epilog="Examples:  bpcli explain configs/xor.yaml  |  bpcli explain runs/digits-20250101-120000 "
    "--batch 1  |  bpcli explain configs/digits.yaml --markdown > digits-backprop.md",
)
def explain_command(
    target: Annotated[
        Path, typer.Argument(help="YAML config file or run folder.", show_default=False)
    ],
    batch: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--batch",
            "-n",
            min=1,
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
        from bpcli.explain import explain_path, render_markdown, render_text

        explanation = explain_path(target, batch, overrides or [])
        render = render_markdown if markdown else render_text
        typer.echo(render(explanation), nl=False)


def _positive(value: float) -> float:
    if not value > 0:
        raise typer.BadParameter(f"must be above 0, got {value}")
    return value


RunArg = Annotated[
    Path, typer.Argument(help="Run folder written by bpcli train.", show_default=False)
]


@app.command(
    "eval",
    epilog="Examples:  bpcli eval runs/iris  |  bpcli eval runs/iris --split validation  |  "
    "bpcli eval runs/iris --data new.csv --json  |  "
    "bpcli eval runs/iris --fail-under accuracy=0.9 --fail-under loss=0.3",
)
def eval_command(
    run: RunArg,
    data: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--data",
            help="Other labelled data (built-in name or .csv/.npz/.npy) instead of a split.",
            metavar="SOURCE",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--split", help="The run's own split (default: test).", metavar="test|validation|train"
        ),
    ] = None,
    as_json: JsonOption = False,
    fail_under: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--fail-under",
            help="Exit 1 unless METRIC reaches VALUE (repeatable; loss, mse, rmse, mae: at most VALUE).",
            metavar="METRIC=VALUE",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Evaluate a trained run on its test split (or another split, or other data)."""
    with user_errors():
        from bpcli.display import stderr_console
        from bpcli.errors import DataError
        from bpcli.evaluation import evaluate_network, missed_bars, parse_bars
        from bpcli.losses import LOSSES
        from bpcli.rundata import labelled_source, run_split
        from bpcli.runs import LoadedRun
        from bpcli.tables import eval_tables

        if data is not None and split is not None:
            raise DataError("give either --split or --data, not both")
        bars = parse_bars(fail_under or [])
        loaded = LoadedRun(run)
        batch = (
            labelled_source(loaded, data)
            if data is not None
            else run_split(loaded, split or "test")
        )
        loss = LOSSES[loaded.config.loss]
        report = evaluate_network(loaded.network, batch.X, batch.Y, loss, loaded.preprocess.classes)
        missed = missed_bars(bars, report.metrics)
        console = stderr_console()
        if as_json:
            document = {"run": str(run), "data": batch.origin, **report.as_dict()}
            if bars:
                document["fail_under"] = {b.metric: b.value for b in bars}
                document["passed"] = not missed
            typer.echo(json.dumps(document))
        else:
            name = loaded.config.name or run.name
            console.print(f"{name}: {batch.origin}, {report.rows} rows", style="bold", markup=False)
            for table in eval_tables(report):
                console.print(table)
        for message in missed:
            console.print(f"[bold red]fail-under:[/bold red] {message}")
    if missed:
        raise typer.Exit(1)


@app.command(
    epilog="Examples:  bpcli predict runs/iris flowers.csv  |  "
    "cat big.csv | bpcli predict runs/iris - | head  |  "
    "bpcli predict runs/iris flowers.csv --proba --output predictions.csv"
)
def predict(
    run: RunArg,
    source: Annotated[
        str,
        typer.Argument(
            help="Features: a .csv (header with the training columns), .npy or .npz file, or - for CSV on stdin.",
            metavar="[INPUT|-]",
        ),
    ] = "-",
    proba: Annotated[
        bool, typer.Option("--proba", help="Add one probability column per class (proba_<label>).")
    ] = False,
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--output", "-o", help="Write the CSV to FILE (atomically) instead of stdout."
        ),
    ] = None,
) -> None:
    """Predict with a trained run; writes CSV with a prediction column (labels as in training).

    When the reader of stdout stops early (bpcli predict ... | head), predict stops quietly with exit 0.
    """
    import io
    import os

    with user_errors():
        from bpcli.display import stderr_console
        from bpcli.errors import DataError
        from bpcli.predict import atomic_output, feature_chunks, write_predictions
        from bpcli.runs import LoadedRun

        loaded = LoadedRun(run)
        prep = loaded.preprocess
        if proba and prep.task == "regression":
            raise DataError("--proba applies to classifiers; this run is a regression model")
        if source == "-" and sys.stdin.isatty():
            raise DataError(
                "no INPUT given and stdin is a terminal", "pass a file, or pipe CSV into -"
            )
        stdin = sys.stdin
        if source == "-" and hasattr(sys.stdin, "buffer"):
            stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")
        chunks = feature_chunks(source, stdin, prep, loaded.config.data.target)
        if output is None:
            try:
                write_predictions(loaded.network, prep, chunks, sys.stdout, proba)
            except BrokenPipeError:
                # The reader left (| head): silence the final flush of stdout and stop as a success.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise typer.Exit(0) from None
            return
        with atomic_output(output) as stream:
            count = write_predictions(loaded.network, prep, chunks, stream, proba)
        stderr_console().print(f"wrote {count} predictions to {output}", markup=False)


@app.command(
    epilog="Examples:  bpcli gradcheck configs/moons.yaml  |  bpcli gradcheck runs/iris --json  |  "
    "bpcli gradcheck configs/digits.yaml --samples 4 --max-params 200"
)
def gradcheck(
    target: Annotated[
        Path,
        typer.Argument(help="YAML config (fresh init) or run folder.", metavar="CONFIG|RUN_DIR"),
    ],
    samples: Annotated[
        int, typer.Option("--samples", min=1, help="Training rows in the batch.")
    ] = 8,
    eps: Annotated[
        float, typer.Option("--eps", callback=_positive, help="Finite-difference step.")
    ] = 1e-6,
    tol: Annotated[
        float,
        typer.Option("--tol", callback=_positive, help="Largest relative error that passes."),
    ] = 1e-6,
    max_params: Annotated[
        int,
        typer.Option("--max-params", min=0, help="At most K entries per tensor, sampled; 0 = all."),
    ] = 5000,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare backprop's gradients with central differences (float64); exit 1 if any tensor fails."""
    with user_errors():
        from bpcli.display import stderr_console
        from bpcli.gradcheck import check_gradients
        from bpcli.rundata import gradcheck_problem
        from bpcli.tables import gradcheck_table, gradcheck_verdict

        problem = gradcheck_problem(target, samples, overrides or [])
        checks = check_gradients(
            problem.network,
            problem.X,
            problem.Y,
            problem.loss,
            problem.weight_decay,
            eps,
            tol,
            max_params or None,
        )
        console = stderr_console()
        passed = all(check.passed for check in checks)
        if as_json:
            document = {
                "target": str(target),
                "samples": int(problem.X.shape[0]),
                "loss": problem.loss.name,
                "weight_decay": problem.weight_decay,
                "eps": eps,
                "tol": tol,
                "passed": passed,
                "tensors": [check.as_dict() for check in checks],
            }
            typer.echo(json.dumps(document))
        else:
            title = f"gradient check: {problem.origin}, {problem.X.shape[0]} rows, loss {problem.loss.name}"
            if problem.weight_decay:
                title += f" + weight decay {problem.weight_decay:g}"
            console.print(gradcheck_table(checks, title))
        console.print(gradcheck_verdict(checks, tol))
    if not passed:
        raise typer.Exit(1)


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
    run_dir: RunArg,
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
