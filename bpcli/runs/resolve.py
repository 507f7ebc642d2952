""" "Is this a config file or a run folder?", decided in one place for the commands that take either
(gradcheck, explain): a config gives its freshly initialised network, a run folder its trained one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bpcli.config import Config, load_config
from bpcli.core.network import MLP
from bpcli.errors import ConfigError
from bpcli.runs.data import Labelled
from bpcli.runs.run import Run
from bpcli.training.experiment import setup


@dataclass
class Subject:
    """A network with its config, where it came from, and its training rows (read on demand)."""

    config: Config
    network: MLP
    origin: str
    train_rows: Callable[[], Labelled]
    run: Run | None = None
    train_size: int | None = None
    """Rows in the training split, when known without reading the data (configs)."""
    target_std: list[float] | None = None
    """σ of the standardized regression targets the network sees (None: targets as given)."""


def config_or_run(path: str | Path, overrides: list[str] = ()) -> Subject:
    """A config file (network initialised with its seed) or a run folder (its trained weights)."""
    path = Path(path)
    if path.is_dir():
        if overrides:
            raise ConfigError(
                f"--set applies to a config file, but {path} is a folder",
                "give the config file instead, or drop --set",
            )
        run = Run.load(path)
        return Subject(
            run.config,
            run.network,
            f"run folder {path}",
            lambda: run.data("train"),
            run,
            target_std=run.preprocess.target_std,
        )
    if not path.is_file():
        raise ConfigError(
            f"{path}: not found; neither a config file nor a run folder",
            "give a YAML config file or a run folder written by bpcli train",
        )
    config = load_config(path, overrides)
    experiment = setup(config)
    train = experiment.data.splits["train"]
    return Subject(
        config,
        experiment.network,
        f"config {path} (fresh init, seed {config.seed})",
        lambda: Labelled(train.X, train.Y, "train split"),
        train_size=len(train),
        target_std=experiment.target_std,
    )
