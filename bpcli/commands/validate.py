"""`bpcli validate`: check a config and its data without training; print the resolved config."""

from __future__ import annotations

import typer

from bpcli.commands.app import ConfigArg, SetOption, command, examples, user_errors


@command(
    epilog=examples(
        "bpcli validate configs/digits.yaml",
        "bpcli validate configs/iris.yaml --set model.hidden='[32]'",
    )
)
def validate(config: ConfigArg, overrides: SetOption = None) -> None:
    """Check CONFIG and its data without training; print the fully resolved config as YAML."""
    with user_errors():
        from bpcli import api
        from bpcli.commands.render import start_line, stderr_console
        from bpcli.config import to_yaml

        experiment = api.validate(config, overrides or [])
        stderr_console().print(f"config ok: {start_line(experiment)}", markup=False)
        typer.echo(to_yaml(experiment.config), nl=False)
