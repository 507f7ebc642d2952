"""The columns of a CSV by name: which are the features (data.features or data.drop), which of them are
categorical (data.categorical, or `auto`: those holding text), which holds sample weights (data.weight);
and reading those columns' cells as categories and weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bpcli.errors import DataError


@dataclass(frozen=True)
class ColumnChoice:
    """What the data config says about columns (all None: every column but the target, numeric)."""

    features: list[str] | None = None
    drop: list[str] | None = None
    categorical: list[str] | str | None = None
    weight: str | None = None

    @classmethod
    def of(cls, data_config) -> ColumnChoice:
        """The choice of a data config (generators have no columns: nothing chosen)."""
        return cls(*(getattr(data_config, key, None) for key in cls.__dataclass_fields__))

    @property
    def any(self) -> bool:
        return any(getattr(self, key) is not None for key in self.__dataclass_fields__)


@dataclass(frozen=True)
class ColumnPlan:
    """Where each chosen column sits in the header: features in model order, the categorical
    features among them, and the weight column."""

    features: list[str]
    index: dict[str, int]
    categorical: list[str]
    weight: str | None

    @property
    def numeric(self) -> list[int]:
        """Header indices of the numeric features, in model order."""
        return [self.index[name] for name in self.features if name not in self.categorical]


def _unknown(key: str, names: list[str], header: list[str], origin) -> None:
    missing = [name for name in names if name not in header]
    if missing:
        raise DataError(
            f"data.{key}: no column {', '.join(repr(m) for m in missing)} in {origin}",
            f"columns: {', '.join(header)}",
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"data.{key}: {', '.join(repeated)} given more than once")


def plan_columns(
    header: list[str], target: int, choice: ColumnChoice, rows: list[list[str]], origin
) -> ColumnPlan:
    """The features, categorical features and weight column a choice selects from `header`."""
    target_name = header[target]
    if choice.weight is not None:
        _unknown("weight", [choice.weight], header, origin)
    for key in ("features", "drop"):
        names = getattr(choice, key) or []
        _unknown(key, names, header, origin)
        for special, what in ((target_name, "target"), (choice.weight, "weight")):
            if special in names and key == "features":
                raise DataError(f"data.features: '{special}' is the {what} column, not a feature")
    if choice.weight == target_name:
        raise DataError(f"data.weight: '{target_name}' is the target column")
    leave_out = {target_name, choice.weight, *(choice.drop or [])}
    features = choice.features or [name for name in header if name not in leave_out]
    if not features:
        raise DataError(f"{origin}: no feature columns left", "check data.drop and data.target")
    index = {name: header.index(name) for name in features}
    categorical = _categorical(choice.categorical, features, index, rows, origin)
    return ColumnPlan(features, index, categorical, choice.weight)


def _categorical(chosen, features: list[str], index: dict[str, int], rows, origin) -> list[str]:
    """The categorical features: as listed, or with `auto` every feature holding a non-number."""
    if chosen is None:
        return []
    if chosen == "auto":
        return [name for name in features if not _numeric(rows, index[name])]
    outside = [name for name in chosen if name not in features]
    if outside:
        raise DataError(
            f"data.categorical: {', '.join(repr(n) for n in outside)} is not a feature column "
            f"of {origin}",
            f"features: {', '.join(features)}",
        )
    return [name for name in features if name in chosen]


def _numeric(rows: list[list[str]], column: int) -> bool:
    """Whether every non-empty cell of a column reads as a number (empty cells are checked later)."""
    for row in rows:
        cell = row[column].strip()
        if cell:
            try:
                float(cell)
            except ValueError:
                return False
    return True


def category_cells(
    rows: list[list[str]], columns: dict[str, int], origin, lines=None
) -> dict[str, np.ndarray]:
    """The cells of each categorical column (stripped text); an empty cell is an error naming its
    line (`lines`: the file line of each row; default: rows start at line 2)."""
    cells = {}
    for name, column in columns.items():
        values = np.array([row[column].strip() for row in rows], dtype=str)
        empty = np.flatnonzero(values == "")
        if len(empty):
            line = lines[empty[0]] if lines is not None else empty[0] + 2
            raise DataError(
                f"{origin}, line {line}: categorical column '{name}' is empty",
                "every row needs a category; fill it in or choose other columns",
            )
        cells[name] = values
    return cells


def weight_cells(rows: list[list[str]], column: int, name: str, origin) -> np.ndarray:
    """Sample weights from a column: finite numbers >= 0, not all 0."""
    weights = np.empty(len(rows))
    for i, row in enumerate(rows):
        try:
            weights[i] = float(row[column])
        except ValueError:
            weights[i] = math.nan
        if not (math.isfinite(weights[i]) and weights[i] >= 0):
            raise DataError(
                f"{origin}, line {i + 2}: weight '{name}' is {row[column]!r}",
                "sample weights must be finite numbers >= 0",
            )
    if not weights.any():
        raise DataError(f"{origin}: every weight in '{name}' is 0")
    return weights
