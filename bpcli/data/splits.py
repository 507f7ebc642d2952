"""Splits: a source's rows divided into train, validation and test, made network-ready.

One seeded permutation decides the split (for k-fold cross-validation, a second one the folds); the
split arrays are copies of the selected rows, preprocessed in place (the full-data train split of a
config without held-out rows is not copied).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bpcli.data.files import Table
from bpcli.data.preprocess import Preprocess, fit_preprocess
from bpcli.data.sources import generator_options, load_table
from bpcli.errors import DataError


@dataclass
class Split:
    """One split's network-ready arrays and its row indices in the source table."""

    X: np.ndarray
    Y: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class Prepared:
    splits: dict[str, Split]
    preprocess: Preprocess
    table: Table


def split_rows(n: int, validation: float, test: float, rng) -> dict[str, np.ndarray]:
    """Shuffled row indices for train / validation / test (fractions of n, rounded)."""
    order = rng.permutation(n)
    n_test, n_val = round(n * test), round(n * validation)
    if n - n_test - n_val < 1:
        raise DataError(f"only {n} rows: nothing left for training after the splits")
    return {
        "train": np.sort(order[n_test + n_val :]),
        "validation": np.sort(order[n_test : n_test + n_val]),
        "test": np.sort(order[:n_test]),
    }


def fold_rows(rows: dict[str, np.ndarray], folds: int, fold: int, rng) -> dict[str, np.ndarray]:
    """k-fold cross-validation: the train and validation rows pooled, shuffled and cut into `folds`
    near-equal folds (numpy.array_split); fold `fold` validates, the others train. The same `rng`
    state gives the same folds, so the k runs of one seed see disjoint validation folds."""
    pool = np.sort(np.concatenate([rows["train"], rows["validation"]]))
    if len(pool) < folds:
        raise DataError(f"only {len(pool)} rows outside the test split: too few for {folds} folds")
    parts = np.array_split(rng.permutation(pool), folds)
    train = np.concatenate([part for index, part in enumerate(parts) if index != fold])
    return {"train": np.sort(train), "validation": np.sort(parts[fold]), "test": rows["test"]}


def _take_rows(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """array[index]; the array itself when the split is every row (split_rows sorts), not a copy."""
    return array if len(index) == len(array) else array[index]


def prepare(
    data_config, task: str, dtype, rng_data, rng_split, loss_given: bool = True
) -> Prepared:
    """Load the configured data, split it, fit the preprocessing and build network-ready splits.
    `loss_given`: the config names its loss (see preprocess.fit_preprocess)."""
    table = load_table(
        data_config.source, data_config.target_column(), rng_data, generator_options(data_config)
    )
    rows = split_rows(len(table.y), data_config.validation_split, data_config.test_split, rng_split)
    if data_config.folds:
        rows = fold_rows(rows, data_config.folds, data_config.fold, rng_split)
    prep = fit_preprocess(
        table,
        task,
        rows["train"],
        data_config.standardize,
        bool(data_config.standardize_target),
        loss_given,
    )
    splits = {
        name: Split(
            prep.transform(_take_rows(table.X, index), dtype, owned=len(index) < len(table.X)),
            prep.encode(_take_rows(table.y, index), dtype),
            index,
        )
        for name, index in rows.items()
    }
    return Prepared(splits, prep, table)
