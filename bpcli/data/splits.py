"""Splits: a source's rows divided into train, validation and test, made network-ready.

One seeded permutation decides the split (for k-fold cross-validation, a second one the folds).
The features are preprocessed once, in place, for every row of the table, and each split is an
index view into them (its row numbers), not a copy: the data is held in memory once, whatever the
splits.
Stratified, each class is split on its own, so every split holds every class in its overall share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bpcli.data.columns import ColumnChoice
from bpcli.data.files import Table
from bpcli.data.preprocess import Preprocess, fit_preprocess, target_classes
from bpcli.data.sources import generator_options, load_table
from bpcli.errors import DataError


@dataclass
class Split:
    """One split: its row numbers in the shared, network-ready feature matrix, its targets and, when
    class or sample weights are configured, each row's weight in the loss."""

    features: np.ndarray
    """(N, d) network-ready features of every row of the source (shared by all splits)."""
    rows: np.ndarray
    """(n,) this split's rows of `features` (and of the source table), ascending."""
    Y: np.ndarray
    """(n, …) the encoded targets of these rows."""
    weights: np.ndarray | None = None
    """(n,) the rows' weights in the loss (class weight × sample weight), or None."""

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def X(self) -> np.ndarray:
        """The split's features (n, d): `features` itself when the split is every row, else a copy."""
        return self.features if len(self.rows) == len(self.features) else self.features[self.rows]

    def chunks(self, chunk_rows: int = 4096):
        """The split's features (n, d) as consecutive copies of at most `chunk_rows` rows."""
        for start in range(0, len(self.rows), chunk_rows):
            yield self.features[self.rows[start : start + chunk_rows]]


@dataclass
class Prepared:
    """The splits, the fitted preprocessing and the source table as loaded, except that `table.X`
    now holds the network-ready features (the splits' `features`): it was standardised in place."""

    splits: dict[str, Split]
    preprocess: Preprocess
    table: Table


def split_rows(n: int, validation: float, test: float, rng, labels=None) -> dict[str, np.ndarray]:
    """Shuffled row indices for train / validation / test (fractions of n, rounded).

    With `labels` (stratified) the fractions apply to each class's rows: a held-out split that gets
    rows at all (round(n · fraction) ≥ 1) takes round(n_c · fraction) of class c, at least 1, so it
    holds every class; the rest train. A class too small for that is an error naming it.
    """
    sizes = {"test": round(n * test), "validation": round(n * validation)}
    if n - sizes["test"] - sizes["validation"] < 1:
        raise DataError(f"only {n} rows: nothing left for training after the splits")
    order = rng.permutation(n)
    if labels is None:
        return _cut(order, sizes)
    fractions = {"test": test, "validation": validation}
    classes, codes = np.unique(labels, return_inverse=True)
    shuffled = codes[order]
    parts = []
    for c, label in enumerate(classes):
        rows = order[shuffled == c]
        share = {
            name: max(round(len(rows) * fractions[name]), 1) if sizes[name] else 0 for name in sizes
        }
        if len(rows) - sum(share.values()) < 1:
            held = " and ".join(name for name in share if share[name])
            raise DataError(
                f"class {label.item()!r} has only {len(rows)} row(s): too few for a row in the "
                f"{held} split{'s' if ' and ' in held else ''} and one to train on",
                "lower data.validation_split / data.test_split, set data.stratify: false, "
                "or add rows of that class",
            )
        parts.append(_cut(rows, share))
    return {name: np.sort(np.concatenate([p[name] for p in parts])) for name in parts[0]}


def _cut(order: np.ndarray, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """The first rows of `order` to test, the next to validation, the rest to train (sorted)."""
    n_test, n_val = sizes["test"], sizes["validation"]
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


def prepare(
    data_config, task: str, dtype, rng_data, rng_split, loss_given: bool = True, class_weight=None
) -> Prepared:
    """Load the configured data, split it, fit the preprocessing on the training rows, make every
    row network-ready in place and give each split its row numbers.
    `loss_given`: the config names its loss (see preprocess.fit_preprocess)."""
    table = load_table(
        data_config.source,
        data_config.target_column(),
        rng_data,
        generator_options(data_config),
        ColumnChoice.of(data_config),
    )
    target_classes(table, task, loss_given)  # a target that does not fit fails before the split
    labels = table.y if data_config.stratify and task != "regression" else None
    rows = split_rows(
        len(table.y), data_config.validation_split, data_config.test_split, rng_split, labels
    )
    if data_config.folds:
        rows = fold_rows(rows, data_config.folds, data_config.fold, rng_split)
    prep = fit_preprocess(
        table,
        task,
        rows["train"],
        data_config.standardize,
        bool(data_config.standardize_target),
        loss_given,
        class_weight,
        getattr(data_config, "unknown", "error"),
    )
    table.X = prep.transform(table.X, dtype, owned=True, categorical=table.categorical)
    splits = {name: make_split(table, prep, index, dtype) for name, index in rows.items()}
    return Prepared(splits, prep, table)


def make_split(table: Table, prep: Preprocess, index: np.ndarray, dtype) -> Split:
    """The split of rows `index` of a table whose X is network-ready: an index view of the features,
    the encoded targets and the rows' weights."""
    Y = prep.encode(table.y[index], dtype, table.origin)
    samples = None if table.weights is None else table.weights[index]
    return Split(table.X, index, Y, prep.row_weights(Y, samples, dtype))
