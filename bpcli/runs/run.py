"""A trained run, loaded from its folder: config, preprocessing, network and summary, ready to predict
and evaluate. `Run.load(path)` is the one way every command opens a finished run.
"""

from __future__ import annotations

import shlex
from functools import cached_property
from pathlib import Path

import numpy as np

from bpcli.config import Config
from bpcli.core.losses import LOSSES
from bpcli.core.metrics import Report, evaluate_network
from bpcli.core.network import MLP
from bpcli.data.preprocess import Preprocess
from bpcli.errors import RunError
from bpcli.runs.data import Labelled, labelled_source, rebuild, run_split
from bpcli.runs.folder import RunFolder
from bpcli.training.experiment import build_network


class Run:
    """A finished run: `config`, `preprocess`, `network` (with the trained weights) and `summary`."""

    def __init__(
        self, folder: RunFolder, config: Config, preprocess: Preprocess, network: MLP, summary: dict
    ):
        self.folder, self.config, self.preprocess = folder, config, preprocess
        self.network, self.summary = network, summary

    @classmethod
    def load(cls, path: str | Path) -> Run:
        """Open the run folder at `path`; RunError if it is not a finished run with valid files."""
        folder = RunFolder(path).require()
        if not folder.finished:
            command = f"bpcli train --resume {shlex.quote(str(folder.path))}"
            raise RunError(
                f"{folder.path}: training did not finish, so the run has no final weights",
                f"continue it with: {command}",
            )
        config = folder.read_config()
        preprocess = folder.read_preprocess()
        summary = folder.read_summary()
        # Initial values are placeholders: every tensor is then checked and replaced from the file.
        network = build_network(
            config, len(preprocess.feature_names), preprocess.outputs, np.random.default_rng(0)
        )
        folder.read_weights_into(network)
        _check_statistics(preprocess, network.dtype, folder.path)
        return cls(folder, config, preprocess, network, summary)

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def name(self) -> str:
        return self.config.name or self.path.name

    @property
    def task(self) -> str:
        return self.preprocess.task

    @cached_property
    def history(self) -> list[dict[str, float]]:
        """The per-epoch records (epoch, lr, metrics) as numbers; empty cells become NaN."""
        return [
            {key: _number(key, cell) for key, cell in record.items()}
            for record in self.folder.read_metrics()
        ]

    # ------------------------------------------------------------------------ data

    def data(self, split: str = "test", source: str | None = None) -> Labelled:
        """Network-ready rows: one of the run's own splits, or other labelled data (`source`)."""
        return labelled_source(self, source) if source is not None else run_split(self, split)

    def splits(self):
        """The run's data and splits rebuilt from its config and seed (see runs.data.rebuild)."""
        return rebuild(self)

    # ------------------------------------------------------------------------ predicting

    def outputs(self, X) -> np.ndarray:
        """The network's outputs Ŷ (n, k) for raw feature rows X (n, d), preprocessed as in training."""
        return self.network.predict(self.preprocess.transform(np.asarray(X), self.network.dtype))

    def predict(self, X) -> np.ndarray:
        """Predictions for raw feature rows: labels as in training (classification) or values."""
        return self.preprocess.decode(self.outputs(X))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, classes) in the order of `preprocess.classes` (classifiers only)."""
        if self.task == "regression":
            raise RunError(f"{self.path}: a regression model has no class probabilities")
        Yhat = self.outputs(X)
        return Yhat if self.task == "classification" else np.c_[1 - Yhat, Yhat]

    def evaluate(self, split: str = "test", source: str | None = None) -> Report:
        """Loss and metrics on a split of the run's data or on other labelled data."""
        batch = self.data(split, source)
        loss = LOSSES[self.config.loss]
        prep = self.preprocess
        report = evaluate_network(
            self.network, batch.X, batch.Y, loss, prep.classes, target_std=prep.target_std
        )
        report.origin = batch.origin
        return report


def _check_statistics(prep: Preprocess, dtype, path: Path) -> None:
    """Standardisation statistics must stay finite (and std positive) in the network's dtype:
    1e300 is a float64 number but inf in float32, and would turn every prediction into NaN."""
    for name, values in (("mean", prep.mean), ("std", prep.std)):
        if values is None:
            continue
        with np.errstate(over="ignore"):
            cast = np.asarray(values, dtype=np.float64).astype(dtype)
        if not np.isfinite(cast).all() or (name == "std" and not (cast > 0).all()):
            raise RunError(
                f"{path}: the standardisation '{name}' is not finite and positive in {np.dtype(dtype)}",
                "the run's preprocessing file was damaged or edited",
            )


def _number(key: str, cell: str | None) -> float:
    if cell in ("", None):
        return float("nan")
    return int(cell) if key == "epoch" else float(cell)
