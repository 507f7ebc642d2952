"""Preprocessing: what turns raw rows into network inputs and targets, and outputs back into labels
or values.

Fitted on the training split only, saved with the run, and re-applied unchanged by eval and predict.
Features are z-scored, (x − mean) / std; regression targets too when data.standardize_target is on,
(y − target_mean) / target_std, and the network's outputs are mapped back, ŷ·target_std + target_mean.
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
    target_mean: list[float] | None = None
    target_std: list[float] | None = None
    """Per output column, when regression targets are standardized (data.standardize_target)."""
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
            Y = np.array(y, dtype=dtype)  # a copy: standardised in place below
            Y = Y[:, None] if Y.ndim == 1 else Y
            if self.target_mean is not None:
                Y -= np.asarray(self.target_mean, dtype)
                Y /= np.asarray(self.target_std, dtype)
            return Y
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
        """Predicted labels in the original label space (classification) or values in the target's
        units (regression: ŷ·target_std + target_mean when the targets were standardized)."""
        if self.task == "regression":
            if self.target_mean is None:
                return Yhat
            return Yhat * np.asarray(self.target_std, Yhat.dtype) + np.asarray(
                self.target_mean, Yhat.dtype
            )
        indices = Yhat.argmax(axis=1) if self.task == "classification" else (Yhat[:, 0] > 0.5)
        return np.asarray(self.classes, dtype=object)[indices.astype(int)]


MAX_GUESSED_CLASSES = 20
"""The most distinct numeric labels the default loss (cross_entropy) takes as classes; more look like
a regression target, and training stops to ask (an explicit loss: cross_entropy is taken as said)."""


def fit_preprocess(
    table: Table,
    task: str,
    train_rows: np.ndarray,
    standardize: bool,
    standardize_target: bool = False,
    loss_given: bool = True,
) -> Preprocess:
    """Label mapping from all targets; standardisation statistics (features, and regression targets
    if `standardize_target`) from the training rows only. `loss_given`: the config names its loss
    (else numeric labels are checked for looking like a regression target, see MAX_GUESSED_CLASSES)."""
    prep = Preprocess(task, table.feature_names, table.target_name)
    if task == "regression":
        if not np.issubdtype(table.y.dtype, np.number):
            raise DataError(
                f"{table.origin}: target '{table.target_name}' holds text, a regression loss needs numbers",
                "use loss: cross_entropy for class labels",
            )
        prep.outputs = 1 if table.y.ndim == 1 else table.y.shape[1]
        if standardize_target:
            mean, std = column_statistics(table.y.reshape(len(table.y), -1), train_rows)
            prep.target_mean, prep.target_std = _statistics(mean, std)
    else:
        _check_labels(table, loss_given)
        prep.classes = np.unique(table.y).tolist()
        _check_classes(prep.classes, task, table)
        prep.outputs = len(prep.classes) if task == "classification" else 1
    if standardize:
        prep.mean, prep.std = _statistics(*column_statistics(table.X, train_rows))
    return prep


def _statistics(mean: np.ndarray, std: np.ndarray) -> tuple[list[float], list[float]]:
    """Mean and std as saved with the run; a constant column keeps std 1 (no division by 0)."""
    return mean.tolist(), np.where(std > 0, std, 1.0).tolist()


def _check_labels(table: Table, loss_given: bool) -> None:
    """Refuse numeric class labels that look like a regression target, rather than guess."""
    y = table.y
    if not np.issubdtype(y.dtype, np.number):
        return
    where = f"{table.origin}: target '{table.target_name}'"
    fractional = y != np.round(y)
    if fractional.any():
        example = y[fractional].ravel()[0]
        raise DataError(
            f"{where} holds non-integer numbers (e.g. {example:g}), which are not class labels",
            "for regression set loss: mse (or mae, huber)",
        )
    distinct = len(np.unique(y))
    if not loss_given and distinct > MAX_GUESSED_CLASSES:
        raise DataError(
            f"{where} has {distinct} distinct numeric values; the default loss cross_entropy "
            f"would train {distinct} classes",
            "for regression set loss: mse; to train that many classes set loss: cross_entropy",
        )


def column_statistics(X: np.ndarray, rows: np.ndarray, chunk_rows: int = 2048):
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
