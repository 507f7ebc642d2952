"""Data for a saved run: its own splits re-derived from config and seed, other labelled data read through
its saved preprocessing, feature columns matched by name, and the small batch a gradient check uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpcli.data import (
    GENERATORS,
    SHIPPED,
    Preprocess,
    features_from_cells,
    generate,
    load_numpy,
    parse_targets,
    read_csv_rows,
    shipped_path,
)
from bpcli.errors import DataError, RunError
from bpcli.losses import LOSSES, Loss
from bpcli.network import MLP
from bpcli.optimizers import OPTIMIZERS

SPLITS = ("test", "validation", "train")


@dataclass
class Labelled:
    """Network-ready inputs X (n, d) and encoded targets Y, with where they came from."""

    X: np.ndarray
    Y: np.ndarray
    origin: str

    def __len__(self) -> int:
        return self.X.shape[0]


def reproducible(config):
    """The config as `setup` needs it to re-derive data and splits (no weights loaded from elsewhere)."""
    config = config.model_copy(deep=True)
    config.model.init_from = None
    return config


def run_split(loaded, split: str) -> Labelled:
    """The rows of `split` exactly as training saw them, through the run's saved preprocessing."""
    from bpcli.train import setup

    if split not in SPLITS:
        raise DataError(f"--split '{split}' is not a split", f"choose one of: {', '.join(SPLITS)}")
    data = setup(reproducible(loaded.config)).data
    _check_same_data(loaded, data.preprocess)
    rows = data.splits[split].rows
    if len(rows) == 0:
        raise DataError(
            f"the run {loaded.path} has no {split} rows (data.{split}_split is 0)"
            if split != "train"
            else f"the run {loaded.path} has no train rows",
            "evaluate another split (--split) or other data (--data)",
        )
    dtype = loaded.network.dtype
    prep, table = loaded.preprocess, data.table
    X = prep.transform(table.X[rows], dtype)
    return Labelled(X, prep.encode(table.y[rows], dtype, table.origin), f"{split} split")


def _check_same_data(loaded, fresh: Preprocess) -> None:
    """Refuse to report a 'test split' that is not the one the run was tested on."""
    saved = loaded.preprocess
    same = (
        fresh.feature_names == saved.feature_names
        and fresh.classes == saved.classes
        and fresh.outputs == saved.outputs
        and (saved.mean is None or np.allclose(fresh.mean, saved.mean, rtol=1e-12, atol=0))
        and (saved.std is None or np.allclose(fresh.std, saved.std, rtol=1e-12, atol=0))
    )
    if not same:
        raise RunError(
            f"the data of {loaded.path} ({loaded.config.data.source}) changed since training, "
            "so its splits cannot be reproduced",
            "evaluate the current data with --data SOURCE instead",
        )


def feature_columns(header: list[str], prep: Preprocess, origin: str) -> list[int]:
    """Indices of the training features in `header`, by name; the target column may be present."""
    expected = prep.feature_names
    allowed = set(expected) | {prep.target_name}
    missing = [name for name in expected if name not in header]
    unexpected = [name for name in header if name not in allowed]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if missing or unexpected or duplicated:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected {', '.join(unexpected)}")
        if duplicated:
            problems.append(f"repeated {', '.join(duplicated)}")
        raise DataError(
            f"{origin}: columns do not match the model ({'; '.join(problems)})",
            f"expected the {len(expected)} feature columns {', '.join(expected)} "
            f"(the target column '{prep.target_name}' may be present and is ignored)",
        )
    return [header.index(name) for name in expected]


def labelled_source(loaded, source: str) -> Labelled:
    """Other labelled data (built-in name or .csv/.npz/.npy) through the run's preprocessing."""
    prep, config = loaded.preprocess, loaded.config
    dtype = loaded.network.dtype
    if source in GENERATORS:
        # A fresh sample from the generator (seed + 1), with the run's options if it trained on it.
        same = config.data.source == source
        options = {
            key: getattr(config.data, key)
            for key in ("n_samples", "noise", "n_classes", "n_features")
            if same and getattr(config.data, key) is not None
        }
        table = generate(source, np.random.default_rng(config.seed + 1), options)
        X, y = _check_width(table.X, prep, table.origin), table.y
    elif source in SHIPPED or Path(source).suffix.lower() == ".csv":
        path = shipped_path(source) if source in SHIPPED else _existing(source)
        header, rows = read_csv_rows(path)
        if prep.target_name not in header:
            raise DataError(
                f"{path}: no target column '{prep.target_name}'",
                f"eval needs the features {', '.join(prep.feature_names)} and the target "
                f"'{prep.target_name}'; to predict unlabelled rows use bpcli predict",
            )
        X = features_from_cells(rows, feature_columns(header, prep, str(path)), header, path)
        column = header.index(prep.target_name)
        y = parse_targets([row[column] for row in rows], path, prep.target_name)
    elif Path(source).suffix.lower() in (".npz", ".npy"):
        target = config.data.target if isinstance(config.data.target, int) else None
        table = load_numpy(_existing(source), target)
        X, y = _check_width(table.X, prep, source), table.y
    else:
        raise DataError(
            f"--data '{source}' is neither a built-in dataset nor a .csv/.npz/.npy file",
            f"built-in: {', '.join(sorted([*GENERATORS, *SHIPPED]))}",
        )
    return Labelled(prep.transform(X, dtype), prep.encode(y, dtype, source), source)


def _existing(source: str) -> Path:
    path = Path(source)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    return path


def _check_width(X: np.ndarray, prep: Preprocess, origin: str) -> np.ndarray:
    if X.shape[1] != len(prep.feature_names):
        raise DataError(
            f"{origin}: {X.shape[1]} feature columns, the model expects {len(prep.feature_names)}",
            f"expected features: {', '.join(prep.feature_names)}",
        )
    return X


# ---------------------------------------------------------------------------- gradient check


@dataclass
class GradcheckProblem:
    """A network, a small batch of its data and the objective's settings, ready for check_gradients."""

    network: MLP
    X: np.ndarray
    Y: np.ndarray
    loss: Loss
    weight_decay: float
    origin: str


def coupled_weight_decay(config) -> float:
    """λ when the optimizer adds λW to the gradient; 0 for decoupled decay (adamw), outside the gradient."""
    optimizer = OPTIMIZERS[config.optimizer.name]
    return 0.0 if optimizer.decoupled_decay else config.optimizer.weight_decay


def gradcheck_problem(path: Path, samples: int, overrides: list[str] = ()) -> GradcheckProblem:
    """From a config file (fresh init with its seed) or a run folder (its trained weights)."""
    from bpcli.config import load_config
    from bpcli.runs import LoadedRun
    from bpcli.train import setup

    if path.is_dir():
        if overrides:
            raise DataError("--set applies to a config file, not to a trained run folder")
        loaded = LoadedRun(path)
        batch = run_split(loaded, "train")
        config, network, origin = loaded.config, loaded.network, f"run {path}"
        X, Y = batch.X, batch.Y
    else:
        if not path.is_file():
            raise DataError(f"{path}: neither a config file nor a run folder")
        config = load_config(path, overrides)
        experiment = setup(config)
        train = experiment.data.splits["train"]
        network, origin = experiment.network, f"config {path} (fresh init, seed {config.seed})"
        X, Y = train.X, train.Y
    return GradcheckProblem(
        network, X[:samples], Y[:samples], LOSSES[config.loss], coupled_weight_decay(config), origin
    )
