"""The formats of a run's text files: metrics as CSV, documents as JSON (checked against a schema on
load), diagnostics rows as CSV, the manifest; a sweep's table of trials as CSV.

Each writer returns text for an atomic write; each reader takes a path, reads it only if it is a
regular file of bounded size, and turns any problem into a RunError naming the file. JSON is strict
(RFC 8259): a NaN or an infinity is written as null. Which file holds what is runs/folder.py's
business.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bpcli.data.preprocess import Preprocess
from bpcli.errors import RunError
from bpcli.safe_read import read_text
from bpcli.training.diagnostics import COLUMNS as DIAGNOSTICS_COLUMNS

MAX_FILE_BYTES = 512 * 2**20
"""A run's text file larger than this is refused (a million-epoch metrics.csv is ~100 MB)."""


def metrics_csv(epochs: list[dict]) -> str:
    """One row per epoch, one column per key of the records (in first-seen order)."""
    return rows_csv(list(dict.fromkeys(key for record in epochs for key in record)), epochs)


def read_metrics(path: Path) -> list[dict[str, str]]:
    """The rows of a metrics CSV, as written by `metrics_csv` (cells are strings of numbers)."""
    try:
        records = list(csv.DictReader(io.StringIO(_text(path), newline="")))
    except csv.Error as error:
        raise RunError(f"{path}: not a readable metrics file ({error})") from None
    if records and "epoch" not in records[0]:
        raise RunError(f"{path}: has no 'epoch' column")
    for line, record in enumerate(records, start=2):
        bad = next((k for k, v in record.items() if k is None or not _number_cell(v)), False)
        if bad is not False or not record["epoch"].isdigit():
            raise RunError(f"{path}, line {line}: not a row of numbers (column {bad or 'epoch'})")
    return records


def rows_csv(columns: list[str], rows: list[dict]) -> str:
    """A table as CSV: a header of `columns`, one line per row (missing cells empty)."""
    stream = io.StringIO()
    writer = csv.DictWriter(stream, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return stream.getvalue()


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV table with a header (cells are strings)."""
    try:
        return list(csv.DictReader(io.StringIO(_text(path), newline="")))
    except csv.Error as error:
        raise RunError(f"{path}: not a readable CSV table ({error})") from None


def _number_cell(cell) -> bool:
    if cell == "":
        return True
    try:
        float(cell)
    except (TypeError, ValueError):
        return False
    return True


def _text(path: Path) -> str:
    """The text of a run file; a missing one says the run folder is incomplete."""
    if not os.path.lexists(path):
        raise RunError(f"{path.parent} is not a complete run folder: {path.name} is missing")
    return read_text(path, RunError, "run file", MAX_FILE_BYTES)


def json_text(document: dict) -> str:
    """Strict JSON (RFC 8259), indented: NaN and infinities become null."""
    return json.dumps(finite_json(document), indent=2, allow_nan=False) + "\n"


def json_line(document: dict) -> str:
    """Strict JSON on one line, for a command's stdout (`--json`)."""
    return json.dumps(finite_json(document), allow_nan=False)


def finite_json(value):
    """`value` with NumPy scalars as Python numbers and NaN/inf as None, containers recursively."""
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_json(path: Path) -> dict:
    try:
        document = json.loads(_text(path))
    except (ValueError, RecursionError) as error:
        raise RunError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise RunError(f"{path}: not a JSON object")
    return document


def _validated(path: Path, adapter, document):
    try:
        return adapter.validate_python(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "(top level)"
        raise RunError(
            f"{path}: {where}: {first['msg']}", "the file was damaged or edited"
        ) from None


# ---------------------------------------------------------------------------- preprocessing

_PREPROCESS = TypeAdapter(Preprocess)
TASKS = ("classification", "binary", "regression")


def read_preprocess(path: Path) -> Preprocess:
    """The run's Preprocess, its fields checked by type and for consistency (widths, finiteness)."""
    document = read_json(path)
    known = {f.name for f in dataclasses.fields(Preprocess)}
    unknown = sorted(set(document) - known)
    if unknown:
        raise RunError(
            f"{path}: unknown field '{unknown[0]}'", f"fields: {', '.join(sorted(known))}"
        )
    prep = _validated(path, _PREPROCESS, document)
    problem = _preprocess_problem(prep)
    if problem:
        raise RunError(f"{path}: {problem}", "the file was damaged or edited")
    return prep


def _preprocess_problem(prep: Preprocess) -> str | None:
    width = len(prep.numeric_names)
    if prep.task not in TASKS:
        return f"task '{prep.task}' is not one of {', '.join(TASKS)}"
    if not prep.feature_names or prep.outputs < 1:
        return "no features or no outputs"
    problem = _categories_problem(prep)
    if problem:
        return problem
    for name, values in (("mean", prep.mean), ("std", prep.std)):
        if values is not None and (len(values) != width or not all(map(math.isfinite, values))):
            return f"'{name}' must hold {width} finite numbers, one per numeric feature"
    if prep.std and min(prep.std) <= 0:
        return "'std' must be positive"
    if (prep.mean is None) != (prep.std is None):
        return "'mean' and 'std' come together"
    if prep.task == "regression":
        return None
    if not prep.classes or len(prep.classes) < 2:
        return "a classifier needs at least 2 classes"
    weights = prep.class_weights
    if weights is not None and (
        len(weights) != len(prep.classes) or not all(math.isfinite(w) and w > 0 for w in weights)
    ):
        return f"'class_weights' must hold {len(prep.classes)} positive numbers, one per class"
    needed = len(prep.classes) if prep.task == "classification" else 1
    return None if prep.outputs == needed else f"'outputs' must be {needed} for {prep.task}"


def _categories_problem(prep: Preprocess) -> str | None:
    """Each categorical feature's categories: a sorted list of distinct text values."""
    if prep.unknown not in ("error", "ignore"):
        return f"'unknown' must be error or ignore, not {prep.unknown!r}"
    for name, values in prep.categories.items():
        if name not in prep.feature_names:
            return f"'categories' names '{name}', which is not a feature"
        if not values or values != sorted(set(values)):
            return f"the categories of '{name}' must be distinct, sorted and at least one"
    return None


# ---------------------------------------------------------------------------- the summary


class _Summary(BaseModel):
    """The fields of the run summary that readers use, by type; other fields pass through."""

    model_config = ConfigDict(extra="allow")
    name: str | None = None
    task: str | None = None
    epochs_run: int | None = Field(None, ge=0)
    best_epoch: int | None = Field(None, ge=1)
    stopped_early: bool = False
    wall_time_s: float | None = None
    parameters: int | None = Field(None, ge=0)
    metrics: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    config_hash: str | None = None
    versions: dict[str, str | int | None] = Field(default_factory=dict)


_SUMMARY = TypeAdapter(_Summary)


def read_summary(path: Path) -> dict:
    """The summary document, its fields checked by type."""
    document = read_json(path)
    _validated(path, _SUMMARY, document)
    return document


class _Point(BaseModel):
    model_config = ConfigDict(extra="allow")
    params: dict
    mean: float | None
    std: float | None
    metrics: dict[str, dict[str, float | None]]


class _SweepSummary(BaseModel):
    """The fields of a sweep's summary that readers use (`bpcli runs`, `bpcli plot`), by type."""

    model_config = ConfigDict(extra="allow")
    metric: str
    mode: str
    params: list[str]
    points: list[_Point]


_SWEEP_SUMMARY = TypeAdapter(_SweepSummary)


def read_sweep_summary(path: Path) -> dict:
    """A sweep's summary document, the fields its readers use checked by type."""
    document = read_json(path)
    _validated(path, _SWEEP_SUMMARY, document)
    return document


# ---------------------------------------------------------------------------- the manifest


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bpcli: str
    files: list[Annotated[str, Field(pattern=r"^[^/\\\x00]+$")]]


_MANIFEST = TypeAdapter(_Manifest)


def manifest_text(names, version: str) -> str:
    """The manifest: every file name bpcli may write into the folder."""
    return json_text({"bpcli": version, "files": list(names)})


def read_manifest(path: Path) -> list[str]:
    """The file names a manifest lists (plain names: never a path, '.' or '..')."""
    names = _validated(path, _MANIFEST, read_json(path)).files
    return [name for name in names if name not in (".", "..")]


def diagnostics_csv(rows: list[dict]) -> str:
    """Rows as CSV; quantities that do not apply to a layer (dead ReLUs of tanh …) stay empty."""
    stream = io.StringIO()
    writer = csv.DictWriter(stream, DIAGNOSTICS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else _cell(row[k]) for k in DIAGNOSTICS_COLUMNS})
    return stream.getvalue()


def _cell(value):
    return f"{value:.6g}" if isinstance(value, float) else value


def read_diagnostics(path: Path) -> list[dict]:
    """Rows of a diagnostics CSV, numbers parsed back (empty cells become None)."""
    numeric = ("grad_norm", "update_ratio", "dead_fraction", "saturated_fraction")
    try:
        return [
            {
                "epoch": _positive(record["epoch"]),
                "layer": _positive(record["layer"]),
                "activation": record["activation"],
                "units": _positive(record["units"]),
                **{key: float(record[key]) if record[key] else None for key in numeric},
            }
            for record in csv.DictReader(io.StringIO(_text(path), newline=""))
        ]
    except (KeyError, TypeError, ValueError, csv.Error) as error:
        raise RunError(f"{path}: not a readable diagnostics file ({error})") from None


def _positive(cell: str) -> int:
    value = int(cell)
    if value < 1:
        raise ValueError(f"{value} is not a positive count")
    return value
