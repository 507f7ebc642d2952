"""Helpers shared by the CLI tests: paths, the CliRunner, training a run, Rich-unwrapped output."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bpcli.commands import app

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
runner = CliRunner()


def flat(text: str) -> str:
    """Output with Rich's line wrapping undone, for matching messages."""
    return " ".join(text.split())


def train(config: Path, out: Path, *overrides: str) -> Path:
    """Train CONFIG into the run folder OUT with `--set` overrides; returns OUT."""
    args = ["train", str(config), "--out", str(out), "--quiet"]
    for override in overrides:
        args += ["--set", override]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out
