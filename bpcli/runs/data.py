"""Data for a saved run: its own splits re-derived from config and seed (`rebuild`, the one place that
does it), other labelled data read through its saved preprocessing, feature columns matched by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpcli.data.files import (
    features_from_cells,
    load_numpy,
    parse_targets,
    read_csv_rows,
    repeated_names,
)
from bpcli.data.preprocess import Preprocess
from bpcli.data.sources import (
    BUILTIN,
    GENERATORS,
    SHIPPED,
    generate,
    generator_options,
    shipped_path,
)
from bpcli.data.splits import Prepared
from bpcli.errors import DataError, RunError
from bpcli.training.experiment import prepare_data

SPLITS = ("test", "validation", "train")


@dataclass
class Labelled:
    """Network-ready inputs X (n, d) and encoded targets Y, with where they came from."""

    X: np.ndarray
    Y: np.ndarray
    origin: str

    def __len__(self) -> int:
        return self.X.shape[0]


def rebuild(loaded) -> Prepared:
    """A saved run's data and splits, re-derived from its config and seed exactly as training made
    them; refused when the data changed since (the splits could not be the same)."""
    data = prepare_data(loaded.config)
    _check_same_data(loaded, data.preprocess)
    return data


def run_split(loaded, split: str) -> Labelled:
    """The rows of `split` exactly as training saw them, through the run's saved preprocessing."""
    if split not in SPLITS:
        raise DataError(f"--split '{split}' is not a split", f"choose one of: {', '.join(SPLITS)}")
    data = rebuild(loaded)
    rows = data.splits[split].rows
    if len(rows) == 0:
        raise DataError(
            f"the run {loaded.path} has no {split} rows (data.{split}_split is 0)"
            if split != "train"
            else f"the run {loaded.path} has no train rows",
            "evaluate another split (--split) or other data (--data)",
        )
    return Labelled(data.splits[split].X, data.splits[split].Y, f"{split} split")


def _check_same_data(loaded, fresh: Preprocess) -> None:
    """Refuse to report a 'test split' that is not the one the run was tested on."""
    saved = loaded.preprocess
    same = (
        fresh.feature_names == saved.feature_names
        and fresh.classes == saved.classes
        and fresh.outputs == saved.outputs
        and (saved.mean is None or np.allclose(fresh.mean, saved.mean, rtol=1e-12, atol=0))
        and (saved.std is None or np.allclose(fresh.std, saved.std, rtol=1e-12, atol=0))
        and _same_statistics(saved.target_mean, fresh.target_mean)
        and _same_statistics(saved.target_std, fresh.target_std)
    )
    if not same:
        raise RunError(
            f"the data of {loaded.path} ({loaded.config.data.source}) changed since training, "
            "so its splits cannot be reproduced",
            "evaluate the current data with --data SOURCE instead",
        )


def _same_statistics(saved: list | None, fresh: list | None) -> bool:
    """Target statistics agree (a run saved without them is not compared)."""
    if saved is None:
        return True
    return fresh is not None and np.allclose(fresh, saved, rtol=1e-12, atol=0)


def feature_columns(header: list[str], prep: Preprocess, origin: str) -> list[int]:
    """Indices of the training features in `header`, by name; the target column may be present."""
    expected = prep.feature_names
    allowed = set(expected) | {prep.target_name}
    position = {name: index for index, name in enumerate(header)}  # linear: dicts, not list.index
    missing = [name for name in expected if name not in position]
    unexpected = [name for name in header if name not in allowed]
    duplicated = repeated_names(header)
    if missing or unexpected or duplicated:
        problems = []
        if missing:
            problems.append(f"missing {listed(missing)}")
        if unexpected:
            problems.append(f"unexpected {listed(unexpected)}")
        if duplicated:
            problems.append(f"repeated {listed(duplicated)}")
        raise DataError(
            f"{origin}: columns do not match the model ({'; '.join(problems)})",
            f"expected the {len(expected)} feature columns {listed(expected)} "
            f"(the target column '{prep.target_name}' may be present and is ignored)",
        )
    return [position[name] for name in expected]


def listed(names: list[str], limit: int = 12) -> str:
    """Names joined by commas; past `limit`, the first ones and how many more."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])}, … ({len(names) - limit} more)"


def labelled_source(loaded, source: str) -> Labelled:
    """Other labelled data (built-in name or .csv/.npz/.npy) through the run's preprocessing."""
    prep, config = loaded.preprocess, loaded.config
    dtype = loaded.network.dtype
    if source in GENERATORS:
        # A fresh sample from the generator (seed + 1), with the run's options if it trained on it.
        options = generator_options(config.data) if config.data.source == source else {}
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
        target = config.data.target_column()
        target = target if isinstance(target, int) else None
        table = load_numpy(_existing(source), target)
        X, y = _check_width(table.X, prep, source), table.y
    else:
        raise DataError(
            f"--data '{source}' is neither a built-in dataset nor a .csv/.npz/.npy file",
            f"built-in: {', '.join(BUILTIN)}",
        )
    return Labelled(prep.transform(X, dtype), prep.encode(y, dtype, source), source)


def _existing(source: str) -> Path:
    """The path of a --data file (a missing one, a folder or a FIFO is refused when it is read)."""
    return Path(source)


def _check_width(X: np.ndarray, prep: Preprocess, origin: str) -> np.ndarray:
    if X.shape[1] != len(prep.feature_names):
        raise DataError(
            f"{origin}: {X.shape[1]} feature columns, the model expects {len(prep.feature_names)}",
            f"expected features: {', '.join(prep.feature_names)}",
        )
    return X
