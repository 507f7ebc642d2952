"""Prediction with a saved run: features read in chunks (CSV file or stream, NPY, NPZ), CSV written out.

Memory stays bounded by the chunk size: a CSV is parsed `CHUNK_ROWS` rows at a time, an .npy is
memory-mapped, and every chunk's predictions are written (and flushed) before the next is read.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np

from bpcli.data.files import csv_reader, csv_records
from bpcli.data.preprocess import Preprocess
from bpcli.errors import DataError
from bpcli.runs.atomic import atomic_file
from bpcli.runs.data import feature_columns
from bpcli.safe_read import open_regular, read_npy, read_npz

CHUNK_ROWS = 4096


# ---------------------------------------------------------------------------- reading


def csv_chunks(stream: TextIO, prep: Preprocess, origin: str, chunk_rows=CHUNK_ROWS) -> Iterator:
    """Float64 feature chunks (rows, d) from a CSV stream with a header; columns matched by name.

    The header is read and checked at once (so a wrong file fails before any output); rows lazily.
    """
    reader = csv_reader(stream, origin)
    with _csv_problems(origin, reader):
        header = next(reader, None)
    if not header:
        raise DataError(
            f"{origin}: empty input, no header row",
            f"expected a CSV header with the columns {', '.join(prep.feature_names)}",
        )
    header = [name.strip() for name in header]
    return _csv_rows(
        reader, header, feature_columns(header, prep, origin), prep, origin, chunk_rows
    )


def _csv_rows(reader, header, columns, prep, origin, chunk_rows) -> Iterator:
    rows, lines = [], []
    with _csv_problems(origin, reader):
        for row in csv_records(reader, len(header), origin):
            rows.append([row[c] for c in columns])
            lines.append(reader.line_num)
            if len(rows) == chunk_rows:
                yield _parse_cells(rows, lines, prep.feature_names, origin)
                rows, lines = [], []
    if rows:
        yield _parse_cells(rows, lines, prep.feature_names, origin)


@contextmanager
def _csv_problems(origin: str, reader):
    try:
        yield
    except UnicodeDecodeError as error:
        raise DataError(f"{origin}: not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        raise DataError(f"{origin}, line {reader.line_num}: malformed CSV ({error})") from None


def _parse_cells(rows: list[list[str]], lines: list[int], names: list[str], origin: str):
    try:
        X = np.array(rows, dtype=np.float64)
        if np.all(np.isfinite(X)):
            return X
    except ValueError:
        pass
    for row, line in zip(rows, lines, strict=True):
        for cell, name in zip(row, names, strict=True):
            try:
                ok = np.isfinite(float(cell))
            except ValueError:
                ok = False
            if not ok:
                raise DataError(
                    f"{origin}, line {line}: feature '{name}' is {cell!r}, not a finite number",
                    "every feature must be a number (no empty, NaN or inf cells)",
                )
    raise AssertionError("unreachable: a cell failed to parse but none was found")


def target_position(config, width: int) -> int | None:
    """The target's column in the run's training .npy (data.target, else the last of width + 1);
    None when the run did not train on an .npy, so no column position of a target is known."""
    if not config.data.source.lower().endswith(".npy"):
        return None
    target = config.data.target_column()
    return (target if isinstance(target, int) else width) % (width + 1)


def numpy_chunks(path: Path, prep: Preprocess, target, chunk_rows=CHUNK_ROWS, on_note=None):
    """Chunks of an .npy (memory-mapped) or of an .npz's X. An .npy may hold one extra column only
    at `target`, the target's position in the training .npy (see target_position); it is dropped
    and `on_note` is told so. Any other width is an error naming the expected and found widths."""
    width = len(prep.feature_names)
    if path.suffix.lower() == ".npz":
        X = read_npz(path, DataError, "input file", lambda headers: _only_x(headers, path))["X"]
    else:
        X = read_npy(path, DataError, "input file", mmap=True)
    if X.ndim != 2 or X.dtype.kind not in "iuf":
        raise DataError(f"{path}: features must be a 2-D numeric array, got {X.dtype} {X.shape}")
    npy = path.suffix.lower() == ".npy"
    keep = None
    if npy and target is not None and X.shape[1] == width + 1:
        keep = [c for c in range(X.shape[1]) if c != target]
        if on_note is not None:
            on_note(f"{path}: ignoring column {target}, the target's column in the training .npy")
    elif X.shape[1] != width:
        extra = (
            f", or {width + 1} with the target at column {target} as in the training .npy"
            if npy and target is not None
            else ""
        )
        raise DataError(
            f"{path}: {X.shape[1]} columns, the model expects {width} features{extra}",
            f"expected features: {', '.join(prep.feature_names)}"
            + (
                " (a target column is accepted only by a model trained on an .npy)"
                if npy and target is None
                else ""
            ),
        )
    return _array_rows(X, keep, path, chunk_rows)


def _only_x(headers: dict, path: Path) -> list[str]:
    if "X" not in headers:
        raise DataError(f"{path}: no array 'X'", f"it holds {sorted(headers)}")
    return ["X"]


def _array_rows(X: np.ndarray, keep, path: Path, chunk_rows: int) -> Iterator:
    for start in range(0, X.shape[0], chunk_rows):
        chunk = np.asarray(X[start : start + chunk_rows], dtype=np.float64)
        chunk = chunk[:, keep] if keep is not None else chunk
        if not np.all(np.isfinite(chunk)):
            row = start + int(np.argmax(~np.all(np.isfinite(chunk), axis=1)))
            raise DataError(f"{path}: row {row} holds NaN or inf")
        yield chunk


def feature_chunks(
    source: str, stdin: TextIO, prep: Preprocess, target: int | None, on_note=None
) -> Iterator:
    """Chunks from '-' (CSV on stdin) or a .csv/.npy/.npz path; `target`: see target_position."""
    if source == "-":
        return csv_chunks(stdin, prep, "stdin")
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npy", ".npz"):
        raise DataError(
            f"input '{source}' is not a .csv, .npy or .npz file", "or - for CSV on stdin"
        )
    if suffix != ".csv":
        return numpy_chunks(path, prep, target, on_note=on_note)
    # The file closes when the chunks are exhausted or garbage-collected.
    stream = io.TextIOWrapper(open_regular(path, DataError, "input file"), "utf-8", newline="")
    return csv_chunks(stream, prep, str(path))


# ---------------------------------------------------------------------------- writing


def output_header(prep: Preprocess, proba: bool) -> list[str]:
    """`prediction` (or prediction_<i> per output), then proba_<label> per class with --proba."""
    if prep.task == "regression":
        return (
            ["prediction"]
            if prep.outputs == 1
            else [f"prediction_{i}" for i in range(prep.outputs)]
        )
    return ["prediction"] + ([f"proba_{label}" for label in prep.classes] if proba else [])


ROUND_TRIP_DIGITS = {np.dtype(np.float32): 9, np.dtype(np.float64): 17}
"""Significant digits that read back as the very same float: %.9g for float32, %.17g for float64."""


def float_cells(values: np.ndarray) -> np.ndarray:
    """Floats as CSV text in one format, %.9g (float32 runs) or %.17g (float64): 0.999796689,
    6.30650194e-13; each cell reads back as exactly the value the network computed."""
    return np.char.mod(f"%.{ROUND_TRIP_DIGITS[values.dtype]}g", values)


def output_columns(prep: Preprocess, Yhat: np.ndarray, proba: bool) -> list[np.ndarray]:
    """The output cells of a chunk, one array of strings per column (floats by float_cells);
    regression values in the target's own units."""
    if prep.task == "regression":
        return list(float_cells(prep.decode(Yhat)).T)
    columns = [np.asarray([str(label) for label in prep.decode(Yhat)])]
    if proba:
        probabilities = Yhat if prep.task == "classification" else np.c_[1 - Yhat, Yhat]
        columns.extend(float_cells(probabilities).T)
    return columns


def write_predictions(run, chunks: Iterator, out: TextIO, proba: bool) -> int:
    """Predict every chunk with a saved `run` and write CSV rows to `out`, flushing per chunk;
    returns the row count. The header goes out with the first chunk, so input that fails in its
    first chunk writes nothing."""
    prep = run.preprocess
    writer = csv.writer(out, lineterminator="\n")
    count = 0
    for X in chunks:
        Yhat = run.outputs(X)
        if count == 0:
            writer.writerow(output_header(prep, proba))
        writer.writerows(zip(*output_columns(prep, Yhat, proba), strict=True))
        out.flush()
        count += X.shape[0]
    if count == 0:
        writer.writerow(output_header(prep, proba))
    return count


@contextmanager
def atomic_output(path: Path):
    """A text stream whose file appears at `path` only when the block succeeds (runs.atomic.atomic_file)."""
    path = Path(path)
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise DataError(f"--output {path}: cannot write there (no writable folder {path.parent})")
    with atomic_file(path, text=True) as stream:
        yield stream
