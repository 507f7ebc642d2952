"""Reading data files: CSV (header, ragged rows, line numbers in errors), NPZ (arrays X, y) and NPY.

Features come out as float arrays (n, d); raw targets as a 1-D array of labels or numbers, or (n, k)
numbers for multi-output regression.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bpcli.errors import DataError
from bpcli.safe_read import open_regular, read_npy, read_npz

MAX_COLUMNS = 100_000
MAX_LINE_CHARS = 16 * 2**20
"""A CSV line longer than this is refused unparsed (100,000 columns of numbers take ~2 M)."""
BOM = "\ufeff"
"""The UTF-8 byte-order mark that Excel's "CSV UTF-8" writes before the header."""


@dataclass
class Table:
    """Features X (n, d) and raw targets y as read from a source, with their names."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_name: str
    origin: str


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


def csv_reader(stream, origin) -> csv.reader:
    """A csv.reader over a text stream (a file or stdin) that drops a leading byte-order mark and
    refuses a line longer than MAX_LINE_CHARS before parsing it; it reads nothing until iterated."""

    def lines():
        for number, line in enumerate(_bounded_lines(stream, origin)):
            yield line.removeprefix(BOM) if number == 0 else line

    return csv.reader(lines())


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


def _bounded_lines(stream, origin) -> Iterator[str]:
    """The lines of a text stream, for csv.reader; a line longer than MAX_LINE_CHARS is refused
    before it is parsed (a gigabyte header would otherwise be split into columns first)."""
    while line := stream.readline(MAX_LINE_CHARS + 1):
        if len(line) > MAX_LINE_CHARS:
            raise DataError(
                f"{origin}: a line longer than {MAX_LINE_CHARS} characters", "is it a CSV file?"
            )
        yield line


def repeated_names(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted (linear time)."""
    return sorted(name for name, times in Counter(names).items() if times > 1)


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of a CSV file; ragged rows, repeated column names and non-UTF-8
    bytes are errors."""
    binary = open_regular(path, DataError, "data file")
    try:
        with io.TextIOWrapper(binary, encoding="utf-8", newline="") as handle:
            reader = csv_reader(handle, path)
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
    header = [name.strip() for name in header]
    repeated = repeated_names(header)
    if repeated:
        raise DataError(
            f"{path}: the header repeats the column name(s) {', '.join(repeated)}",
            "give every column its own name",
        )
    return header, rows


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
                        f"{path}, line {line}: feature '{names[c]}' is {row[c]!r}, not a finite "
                        "number",
                        f"if '{names[c]}' is an ID or text column, remove it from the file "
                        "(every column but the target is a feature, and features are numbers)",
                    ) from None
        raise


def separator_hint(header: str) -> str | None:
    """What to do about a one-column header: most often a file separated by ';' or tabs."""
    for separator, name in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
        if separator in header:
            return (
                f"is the file separated by {name}? bpcli reads comma-separated files: save it "
                "with commas between fields (and decimal points)"
            )
    return None


def load_csv(path: Path, target: str | int | None) -> Table:
    header, rows = read_csv_rows(path)
    if len(header) < 2:
        raise DataError(
            f"{path}: found 1 column, {header[0]!r}; a CSV needs a feature and a target column",
            separator_hint(header[0]),
        )
    if target is None:
        target_index = len(header) - 1
    elif isinstance(target, int):
        if not -len(header) <= target < len(header):
            raise DataError(f"data.target: column {target} is out of range for {path}")
        target_index = target % len(header)
    elif target in header:
        target_index = header.index(target)
    else:
        close = difflib.get_close_matches(target, header, n=1)
        suggestion = f"did you mean '{close[0]}'? " if close else ""
        raise DataError(
            f"data.target: column '{target}' is not in {path}",
            f"{suggestion}columns: {', '.join(header)}",
        )
    columns = [c for c in range(len(header)) if c != target_index]
    X = features_from_cells(rows, columns, header, path)
    y = parse_targets([row[target_index] for row in rows], path, header[target_index])
    return Table(X, y, [header[c] for c in columns], header[target_index], str(path))


def load_numpy(path: Path, target) -> Table:
    X, y = _read_numpy(path, target)
    if X.ndim != 2 or X.shape[0] != len(y):
        raise DataError(
            f"{path}: X must be 2-D with one row per target, got {X.shape} and {y.shape}"
        )
    if X.shape[1] == 0:
        raise DataError(f"{path}: X has no feature columns")
    if X.dtype.kind not in "iuf" or not all_finite(X):
        raise DataError(f"{path}: X must hold finite numbers (real, no NaN or inf), got {X.dtype}")
    if y.dtype.kind not in "iufUS" or y.ndim not in (1, 2):
        raise DataError(
            f"{path}: y must hold numbers or labels in 1 or 2 dimensions, got {y.dtype}"
        )
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        row = int(np.argmax(~np.isfinite(y.reshape(len(y), -1)).all(axis=1)))
        raise DataError(f"{path}: y holds NaN or inf (row {row})", "drop or fix that row")
    return Table(X, y, [f"x{i}" for i in range(X.shape[1])], "y", str(path))


def all_finite(X: np.ndarray, chunk_rows: int = 4096) -> bool:
    """True if X holds no NaN or inf; checked in chunks of rows, so no mask as large as X."""
    return all(
        np.isfinite(X[start : start + chunk_rows]).all() for start in range(0, len(X), chunk_rows)
    )


def _read_numpy(path: Path, target) -> tuple[np.ndarray, np.ndarray]:
    """X and y from an .npz (arrays X, y) or an .npy (2-D, target column last or `target`)."""
    if path.suffix.lower() == ".npz":
        arrays = read_npz(path, DataError, "data file", lambda headers: _x_and_y(headers, path))
        return arrays["X"], arrays["y"]
    loaded = read_npy(path, DataError, "data file")
    if loaded.ndim != 2 or loaded.shape[1] < 2:
        raise DataError(f"{path}: an .npy must be a 2-D array, features then the target column")
    column = loaded.shape[1] - 1 if target is None else target
    if not isinstance(column, int) or not -loaded.shape[1] <= column < loaded.shape[1]:
        raise DataError(f"data.target: {target!r} is not a column index of {path}")
    # copy y: a column view would keep the whole loaded array alive next to X
    return np.delete(loaded, column, axis=1), loaded[:, column].copy()


def _x_and_y(headers: dict, path: Path) -> list[str]:
    """Only X and y are read, once their headers agree (other arrays are never expanded)."""
    missing = {"X", "y"} - set(headers)
    if missing:
        raise DataError(f"{path}: missing array(s) {sorted(missing)}", "an .npz needs X and y")
    X, y = headers["X"].shape, headers["y"].shape
    if len(X) != 2 or not y or X[0] != y[0]:
        raise DataError(f"{path}: X must be 2-D with one row per target, got {X} and {y}")
    return ["X", "y"]
