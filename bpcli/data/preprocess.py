"""Preprocessing: what turns raw rows into network inputs and outputs back into labels.

Fitted on the training split only, saved with the run, and re-applied unchanged by eval and predict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bpcli.data.files import Table
from bpcli.errors import DataError


@dataclass
class Preprocess:
    """What turns raw rows into network inputs and outputs back into labels; saved with the run."""

    task: str
    feature_names: list[str]
    target_name: str
    mean: list[float] | None = None
    std: list[float] | None = None
    classes: list | None = None
    outputs: int = 1
    extra: dict = field(default_factory=dict)

    def transform(self, X: np.ndarray, dtype, owned: bool = False) -> np.ndarray:
        """Standardise features (if fitted), (X − mean) / std, and cast to the network's dtype.

        `owned`: X is a copy the caller gives away, so it may be standardised where it is.
        """
        converted = np.ascontiguousarray(X, dtype=dtype)
        if self.mean is None:
            return converted
        if converted is X and not owned:
            converted = converted.copy()
        converted -= np.asarray(self.mean, dtype)
        converted /= np.asarray(self.std, dtype)
        return converted

    def restore(self, X: np.ndarray) -> np.ndarray:
        """Raw features (float64) from network-ready ones: X·std + mean (to rounding), or X."""
        if self.mean is None:
            return np.asarray(X, np.float64)
        return X * np.asarray(self.std) + np.asarray(self.mean)

    def encode(self, y: np.ndarray, dtype, origin: str = "data") -> np.ndarray:
        """Targets as the loss wants them: class indices, a (n, 1) 0/1 column, or (n, k) floats."""
        if self.task == "regression":
            Y = np.asarray(y, dtype=dtype)
            return Y[:, None] if Y.ndim == 1 else Y
        lookup = {label: index for index, label in enumerate(self.classes)}
        try:
            indices = np.array([lookup[label] for label in y.tolist()], dtype=np.int64)
        except KeyError as error:
            raise DataError(
                f"{origin}: label {error.args[0]!r} was not seen in training",
                f"known labels: {self.classes}",
            ) from None
        return indices if self.task == "classification" else indices.astype(dtype)[:, None]

    def decode(self, Yhat: np.ndarray) -> np.ndarray:
        """Predicted labels in the original label space (classification) or the raw outputs."""
        if self.task == "regression":
            return Yhat
        indices = Yhat.argmax(axis=1) if self.task == "classification" else (Yhat[:, 0] > 0.5)
        return np.asarray(self.classes, dtype=object)[indices.astype(int)]


def fit_preprocess(
    table: Table, task: str, train_rows: np.ndarray, standardize: bool
) -> Preprocess:
    """Label mapping from all targets; standardisation statistics from the training rows only."""
    prep = Preprocess(task, table.feature_names, table.target_name)
    if task == "regression":
        if not np.issubdtype(table.y.dtype, np.number):
            raise DataError(
                f"{table.origin}: target '{table.target_name}' holds text, a regression loss needs numbers",
                "use loss: cross_entropy for class labels",
            )
        prep.outputs = 1 if table.y.ndim == 1 else table.y.shape[1]
    else:
        prep.classes = np.unique(table.y).tolist()
        _check_classes(prep.classes, task, table)
        prep.outputs = len(prep.classes) if task == "classification" else 1
    if standardize:
        mean, std = column_statistics(table.X, train_rows)
        prep.mean, prep.std = mean.tolist(), np.where(std > 0, std, 1.0).tolist()
    return prep


def column_statistics(X: np.ndarray, rows: np.ndarray, chunk_rows: int = 8192):
    """Mean and standard deviation of each column of X[rows], in float64, a chunk of rows at a time
    (two passes; never a copy of all the rows)."""
    chunks = [rows[start : start + chunk_rows] for start in range(0, len(rows), chunk_rows)]
    mean = sum(X[chunk].sum(axis=0, dtype=np.float64) for chunk in chunks) / len(rows)
    squares = sum(np.square(X[chunk] - mean).sum(axis=0) for chunk in chunks)
    return mean, np.sqrt(squares / len(rows))


def _check_classes(classes: list, task: str, table: Table) -> None:
    if table.y.ndim != 1:
        raise DataError(
            f"{table.origin}: class labels must be one column, got shape {table.y.shape}"
        )
    if len(classes) < 2:
        raise DataError(
            f"{table.origin}: target '{table.target_name}' has only one class {classes}"
        )
    if task == "binary" and len(classes) != 2:
        raise DataError(
            f"loss binary_cross_entropy needs exactly 2 classes, '{table.target_name}' has "
            f"{len(classes)}",
            "use loss: cross_entropy for more classes",
        )
