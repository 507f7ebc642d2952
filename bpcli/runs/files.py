"""The formats of a run's text files: metrics as CSV, documents as JSON, diagnostics rows as CSV; a
sweep's table of trials as CSV.

Each writer returns text for an atomic write; each reader takes a path and turns any problem into a
RunError naming the file. Which file holds what is runs/folder.py's business.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from bpcli.errors import RunError
from bpcli.training.diagnostics import COLUMNS as DIAGNOSTICS_COLUMNS


def metrics_csv(epochs: list[dict]) -> str:
    """One row per epoch, one column per key of the records (in first-seen order)."""
    return rows_csv(list(dict.fromkeys(key for record in epochs for key in record)), epochs)


def read_metrics(path: Path) -> list[dict[str, str]]:
    """The rows of a metrics CSV, as written by `metrics_csv` (cells are strings)."""
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            records = list(csv.DictReader(stream))
    except FileNotFoundError:
        raise RunError(
            f"{path.parent} is not a complete run folder: {path.name} is missing"
        ) from None
    except (csv.Error, ValueError, UnicodeDecodeError) as error:
        raise RunError(f"{path}: not a readable metrics file ({error})") from None
    if records and "epoch" not in records[0]:
        raise RunError(f"{path}: has no 'epoch' column")
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
        with open(path, newline="", encoding="utf-8") as stream:
            return list(csv.DictReader(stream))
    except (csv.Error, ValueError, UnicodeDecodeError) as error:
        raise RunError(f"{path}: not a readable CSV table ({error})") from None


def json_text(document: dict) -> str:
    return json.dumps(document, indent=2, default=_json_default) + "\n"


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(
            f"{path.parent} is not a complete run folder: {path.name} is missing"
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise RunError(f"{path}: not valid JSON ({error})") from None


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
        with open(path, newline="", encoding="utf-8") as stream:
            return [
                {
                    "epoch": int(record["epoch"]),
                    "layer": int(record["layer"]),
                    "activation": record["activation"],
                    "units": int(record["units"]),
                    **{key: float(record[key]) if record[key] else None for key in numeric},
                }
                for record in csv.DictReader(stream)
            ]
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as error:
        raise RunError(f"{path}: not a readable diagnostics file ({error})") from None
