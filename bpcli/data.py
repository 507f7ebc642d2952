"""Data: built-in generators, the shipped CSV datasets, CSV/NPZ/NPY loaders, splits and preprocessing.

Everything random takes an explicit numpy Generator. Features come out as float arrays (n, d); raw
targets as a 1-D array of labels or numbers, or (n, k) numbers for multi-output regression.
"""

from __future__ import annotations

import csv
import inspect
import math
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bpcli.errors import DataError

PACKAGE_DATASETS = Path(__file__).resolve().parent / "datasets"
REPO_DATASETS = Path(__file__).resolve().parent.parent / "datasets"
SHIPPED = ("iris", "wine", "breast_cancer", "digits", "diabetes")
MAX_COLUMNS = 100_000


@dataclass
class Table:
    """Features X (n, d) and raw targets y as read from a source, with their names."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_name: str
    origin: str


# ---------------------------------------------------------------------------- generators


def xor(rng, n_samples=4, noise=0.0):
    """The XOR truth table, repeated to n_samples rows, with optional Gaussian jitter."""
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    X = np.resize(corners, (n_samples, 2)) + noise * rng.standard_normal((n_samples, 2))
    y = np.resize([0, 1, 1, 0], n_samples)
    return X, y


def moons(rng, n_samples=400, noise=0.15):
    """Two interleaving half circles (labels 0, 1)."""
    half = n_samples // 2
    angles = np.pi * rng.random(n_samples)
    upper = np.c_[np.cos(angles[:half]), np.sin(angles[:half])]
    lower = np.c_[1 - np.cos(angles[half:]), 0.5 - np.sin(angles[half:])]
    X = np.r_[upper, lower] + noise * rng.standard_normal((n_samples, 2))
    return X, np.r_[np.zeros(half, int), np.ones(n_samples - half, int)]


def circles(rng, n_samples=400, noise=0.1):
    """A circle of radius 0.5 inside one of radius 1 (labels 1 inner, 0 outer)."""
    y = (np.arange(n_samples) % 2).astype(int)
    angles = 2 * np.pi * rng.random(n_samples)
    radius = np.where(y == 1, 0.5, 1.0)
    X = radius[:, None] * np.c_[np.cos(angles), np.sin(angles)]
    return X + noise * rng.standard_normal((n_samples, 2)), y


def spirals(rng, n_samples=600, noise=0.2, n_classes=3):
    """n_classes interleaved spiral arms (the CS231n toy problem)."""
    y = np.arange(n_samples) % n_classes
    radius = rng.random(n_samples)
    angle = y * 2 * np.pi / n_classes + 4 * radius + noise * rng.standard_normal(n_samples)
    return np.c_[radius * np.sin(angle), radius * np.cos(angle)], y


def blobs(rng, n_samples=300, noise=1.0, n_classes=3, n_features=2):
    """Gaussian blobs around n_classes random centres in [-10, 10]^n_features."""
    centres = rng.uniform(-10, 10, (n_classes, n_features))
    y = np.arange(n_samples) % n_classes
    return centres[y] + noise * rng.standard_normal((n_samples, n_features)), y


def linear(rng, n_samples=200, noise=0.1, n_features=3):
    """Regression y = X·w + b + noise, with w ~ N(0, 1), b ~ N(0, 1)."""
    X = rng.standard_normal((n_samples, n_features))
    w, b = rng.standard_normal(n_features), rng.standard_normal()
    return X, X @ w + b + noise * rng.standard_normal(n_samples)


def sine(rng, n_samples=400, noise=0.1):
    """Regression y = sin(x) + noise on x ~ U(-π, π)."""
    x = rng.uniform(-np.pi, np.pi, n_samples)
    return x[:, None], np.sin(x) + noise * rng.standard_normal(n_samples)


GENERATORS = {f.__name__: f for f in [xor, moons, circles, spirals, blobs, linear, sine]}
BUILTIN = sorted([*GENERATORS, *SHIPPED])


def generate(name: str, rng: np.random.Generator, options: dict) -> Table:
    """Run a built-in generator with the options it accepts (n_samples, noise, …)."""
    generator = GENERATORS[name]
    accepted = set(inspect.signature(generator).parameters) - {"rng"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise DataError(
            f"data.{unknown[0]} does not apply to the '{name}' generator",
            f"it accepts: {', '.join(sorted(accepted))}",
        )
    X, y = generator(rng, **options)
    names = [f"x{i}" for i in range(X.shape[1])]
    return Table(X, y, names, "y", f"built-in '{name}'")


# ---------------------------------------------------------------------------- files


def shipped_path(name: str) -> Path:
    """The CSV of a shipped dataset, inside the installed package or the source checkout."""
    for folder in (PACKAGE_DATASETS, REPO_DATASETS):
        if (folder / f"{name}.csv").is_file():
            return folder / f"{name}.csv"
    raise DataError(f"the shipped dataset '{name}' is missing from this installation")


def _parse_number(cell: str) -> float:
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(cell)
    return value


def parse_targets(cells: list[str], path: Path, column: str) -> np.ndarray:
    """Numbers if every cell is a finite number (ints if all integral), otherwise string labels."""
    try:
        values = np.array([_parse_number(cell) for cell in cells])
    except ValueError:
        if any(cell.strip().lower() in ("", "nan", "inf", "-inf") for cell in cells):
            row = next(
                i for i, c in enumerate(cells) if c.strip().lower() in ("", "nan", "inf", "-inf")
            )
            raise DataError(
                f"{path}, line {row + 2}: missing or non-finite target in '{column}'"
            ) from None
        return np.array([cell.strip() for cell in cells])
    return values.astype(np.int64) if np.all(values == np.round(values)) else values


def csv_records(reader, width: int, origin) -> Iterator[list[str]]:
    """The non-empty rows of a csv.reader; a row without `width` fields is an error naming its line."""
    for row in reader:
        if not row:
            continue
        if len(row) != width:
            raise DataError(
                f"{origin}, line {reader.line_num}: {len(row)} fields, the header has {width}"
            )
        yield row


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of a CSV file; ragged rows and non-UTF-8 bytes are errors."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise DataError(f"{path}: empty file", "a CSV needs a header row and data rows")
            if len(header) > MAX_COLUMNS:
                raise DataError(f"{path}: {len(header)} columns, more than {MAX_COLUMNS}")
            rows = list(csv_records(reader, len(header), path))
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except csv.Error as error:  # a field over csv.field_size_limit(), a NUL byte, a bad quote
        raise DataError(f"{path}, line {reader.line_num}: unreadable CSV ({error})") from None
    if not rows:
        raise DataError(f"{path}: header only, no data rows")
    return [name.strip() for name in header], rows


def features_from_cells(
    rows: list[list[str]], columns: list[int], names: list[str], path
) -> np.ndarray:
    """A float64 (n, d) array from the given columns; text, empty, NaN or inf cells are errors."""
    try:
        return np.array(
            [[_parse_number(row[c]) for c in columns] for row in rows], dtype=np.float64
        )
    except ValueError:
        for line, row in enumerate(rows, start=2):
            for c in columns:
                try:
                    _parse_number(row[c])
                except ValueError:
                    raise DataError(
                        f"{path}, line {line}: feature '{names[c]}' is {row[c]!r}, not a finite number",
                        "features must be numeric; drop or encode text columns",
                    ) from None
        raise


def load_csv(path: Path, target: str | int | None) -> Table:
    header, rows = read_csv_rows(path)
    if len(header) < 2:
        raise DataError(f"{path}: needs at least one feature column and a target column")
    if target is None:
        target_index = len(header) - 1
    elif isinstance(target, int):
        if not -len(header) <= target < len(header):
            raise DataError(f"data.target: column {target} is out of range for {path}")
        target_index = target % len(header)
    elif target in header:
        target_index = header.index(target)
    else:
        raise DataError(
            f"data.target: column '{target}' is not in {path}", f"columns: {', '.join(header)}"
        )
    columns = [c for c in range(len(header)) if c != target_index]
    X = features_from_cells(rows, columns, header, path)
    y = parse_targets([row[target_index] for row in rows], path, header[target_index])
    return Table(X, y, [header[c] for c in columns], header[target_index], str(path))


def load_numpy(path: Path, target) -> Table:
    try:
        X, y = _read_numpy(path, target)
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"{path}: cannot read as {path.suffix} ({error})") from None
    if X.ndim != 2 or X.shape[0] != len(y):
        raise DataError(
            f"{path}: X must be 2-D with one row per target, got {X.shape} and {y.shape}"
        )
    if not np.issubdtype(X.dtype, np.number) or not all_finite(X):
        raise DataError(f"{path}: X must hold finite numbers (no NaN or inf)")
    return Table(X, y, [f"x{i}" for i in range(X.shape[1])], "y", str(path))


def all_finite(X: np.ndarray, chunk_rows: int = 4096) -> bool:
    """True if X holds no NaN or inf; checked in chunks of rows, so no mask as large as X."""
    return all(
        np.isfinite(X[start : start + chunk_rows]).all() for start in range(0, len(X), chunk_rows)
    )


def _read_numpy(path: Path, target) -> tuple[np.ndarray, np.ndarray]:
    """X and y from an .npz (arrays X, y) or an .npy (2-D, target column last or `target`)."""
    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            missing = {"X", "y"} - set(loaded.files)
            if missing:
                raise DataError(
                    f"{path}: missing array(s) {sorted(missing)}", "an .npz needs X and y"
                )
            return loaded["X"], loaded["y"]
    if loaded.ndim != 2 or loaded.shape[1] < 2:
        raise DataError(f"{path}: an .npy must be a 2-D array, features then the target column")
    column = loaded.shape[1] - 1 if target is None else target
    if not isinstance(column, int) or not -loaded.shape[1] <= column < loaded.shape[1]:
        raise DataError(f"data.target: {target!r} is not a column index of {path}")
    # copy y: a column view would keep the whole loaded array alive next to X
    return np.delete(loaded, column, axis=1), loaded[:, column].copy()


def load_table(source: str, target, rng: np.random.Generator, options: dict) -> Table:
    """Any data source: a generator name, a shipped dataset name, or a .csv/.npz/.npy path."""
    if source in GENERATORS:
        return generate(source, rng, options)
    if options:
        raise DataError(f"data.{next(iter(options))} applies only to built-in generators")
    if source in SHIPPED:
        return load_csv(shipped_path(source), target)
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npz", ".npy"):
        raise DataError(
            f"data.source '{source}' is neither a built-in dataset nor a .csv/.npz/.npy file",
            f"built-in: {', '.join(BUILTIN)}",
        )
    if not path.is_file():
        raise DataError(f"data.source: file not found: {path}")
    return load_csv(path, target) if suffix == ".csv" else load_numpy(path, target)


# ---------------------------------------------------------------------------- preprocessing


@dataclass
class Preprocess:
    """What turns raw rows into network inputs and outputs back into labels; saved as preprocess.json."""

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


def _take_rows(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    """array[index]; the array itself when the split is every row (split_rows sorts), not a copy."""
    return array if len(index) == len(array) else array[index]


def prepare(data_config, task: str, dtype, rng_data, rng_split) -> Prepared:
    """Load the configured data, split it, fit the preprocessing and build network-ready splits."""
    options = {
        key: getattr(data_config, key)
        for key in ("n_samples", "noise", "n_classes", "n_features")
        if getattr(data_config, key) is not None
    }
    table = load_table(data_config.source, data_config.target, rng_data, options)
    rows = split_rows(len(table.y), data_config.validation_split, data_config.test_split, rng_split)
    prep = fit_preprocess(table, task, rows["train"], data_config.standardize)
    splits = {
        name: Split(
            prep.transform(_take_rows(table.X, index), dtype, owned=len(index) < len(table.X)),
            prep.encode(_take_rows(table.y, index), dtype),
            index,
        )
        for name, index in rows.items()
    }
    return Prepared(splits, prep, table)
