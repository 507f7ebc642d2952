"""The red-team pass as a test: a trained run folder is damaged in many ways, file by file, and every
command that reads a run folder (eval, predict, inspect, plot, export, train --resume, and
train --force into it) runs on each damaged copy under a timeout. Exit 0 or 2 only: never a
traceback, never a hang, never another code.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from helpers import CONFIGS, npy_declaring, npz_bytes, runner, train

from bpcli.commands import app

TIMEOUT_S = 20
"""A command on a damaged iris run takes milliseconds; only a hang comes near this."""

RUN_FILES = [
    "config.yaml",
    "preprocess.json",
    "metrics.csv",
    "diagnostics.csv",
    "checkpoint.npz",
    "weights.npz",
    "summary.json",
    ".bpcli-manifest.json",
]


class Hang(Exception):
    """A command ran past TIMEOUT_S."""


@contextmanager
def time_limit(seconds: int):
    def expire(signum, frame):
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------------- damages


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def bit_flips(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(len(data))
    for position in rng.integers(0, len(data), size=8):
        data[position] ^= 1 << int(rng.integers(0, 8))
    path.write_bytes(bytes(data))


def wrong_type(path: Path) -> None:
    """Content of another kind: a list for YAML/JSON, an archive for CSV, text for an archive."""
    replacement = {
        ".yaml": b"- a\n- b\n",
        ".json": b"[1, 2, 3]\n",
        ".csv": npz_bytes(x=np.zeros(3)),
        ".npz": b"epoch,loss\n1,0.5\n",
    }
    path.write_bytes(replacement[path.suffix])


def missing(path: Path) -> None:
    path.unlink()


def directory(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside").write_text("x")


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def huge_field(path: Path) -> None:
    """A 200 KB value where a short one belongs (an array declaring 8 TB in an archive)."""
    big = "9" * 200_000
    if path.suffix == ".npz":
        with np.load(path) as archive:
            arrays = dict(archive)
        buffer = io.BytesIO(npz_bytes(**arrays))
        with zipfile.ZipFile(buffer, "a") as archive:
            archive.writestr("W1.npy", npy_declaring((10**6, 10**6)))
        path.write_bytes(buffer.getvalue())
    elif path.suffix == ".csv":
        lines = path.read_text().splitlines()
        cells = lines[1].split(",")
        cells[-1] = big
        path.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    elif path.suffix == ".json":
        document = json.loads(path.read_text())
        document[next(iter(document))] = big
        path.write_text(json.dumps(document))
    else:
        path.write_text(path.read_text() + f"name: '{big}'\n")


def renamed_key(path: Path) -> None:
    """The first key, column or array renamed (a field a reader looks for goes missing)."""
    if path.suffix == ".npz":
        with np.load(path) as archive:
            arrays = dict(archive)
        first = next(iter(arrays))
        arrays[first + "x"] = arrays.pop(first)
        path.write_bytes(npz_bytes(**arrays))
    elif path.suffix == ".json":
        text = path.read_text()
        first = next(iter(json.loads(text)))
        path.write_text(text.replace(f'"{first}"', f'"{first}_old"', 1))
    else:
        text = path.read_text()
        path.write_text(text[:1] + "Q" + text[1:])


def nan_weights(path: Path) -> None:
    """Arrays scaled out of the float32 range (finite only in float64), or a number made NaN."""
    if path.suffix == ".npz":
        with np.load(path) as archive:
            arrays = {
                k: (v.astype(np.float64) * 1e300 if v.dtype.kind == "f" else v)
                for k, v in archive.items()
            }
        path.write_bytes(npz_bytes(**arrays))
    else:
        text = path.read_text()
        digit = next((i for i, c in enumerate(text) if c.isdigit()), None)
        if digit is not None:
            path.write_text(text[:digit] + "NaN" + text[digit + 1 :])


DAMAGES = {
    f.__name__: f
    for f in [truncate, empty, bit_flips, wrong_type, missing, directory, fifo, huge_field]
    + [renamed_key, nan_weights]
}


# ---------------------------------------------------------------------------- the commands


def commands(run: Path, scratch: Path, name: str) -> dict[str, list[str]]:
    # plot's curves read config.yaml and metrics.csv; --boundary loads the whole run (iris has 4
    # features, so it then refuses to draw: quick, and a full picture per damage would be slow)
    plot = [] if name in ("config.yaml", "metrics.csv") else ["--boundary"]
    return {
        "eval": ["eval", str(run), "--json"],
        "predict": ["predict", str(run), str(scratch / "flowers.csv")],
        "inspect": ["inspect", str(run), "--json"],
        "plot": ["plot", str(run), *plot, "-o", str(scratch / "picture.png")],
        "export": ["export", str(run), "-o", str(scratch / "model.onnx")],
        "resume": ["train", "--resume", str(run), "-q"],
        "force": [
            "train",
            str(CONFIGS / "iris.yaml"),
            "--out",
            str(run),
            "--force",
            "-q",
            "--set",
            "training.epochs=1",
        ],
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return train(
        CONFIGS / "iris.yaml",
        tmp_path_factory.mktemp("fuzz") / "iris",
        "training.epochs=4",
        "training.early_stopping=null",
    )


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("name", RUN_FILES)
def test_every_command_survives_every_damage_to(name, trained, tmp_path):
    (tmp_path / "flowers.csv").write_text(
        "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.4,3.2,4.5,1.5\n"
    )
    problems, codes = [], {}
    for damage_name, damage in DAMAGES.items():
        run = tmp_path / f"{damage_name}-run"
        shutil.copytree(trained, run)
        damage(run / name)
        for command, args in commands(run, tmp_path, name).items():
            if command == "force" and damage_name != "missing" and not name.startswith("."):
                continue  # --force reads only the manifest (and then starts a new run)
            with time_limit(TIMEOUT_S):
                result = runner.invoke(app, args)
            crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
            codes[result.exit_code] = codes.get(result.exit_code, 0) + 1
            if crashed or result.exit_code not in (0, 2) or "Traceback" in result.output:
                problems.append(
                    f"{damage_name} / {command}: {result.exit_code} {result.exception!r}"
                )
        shutil.rmtree(run, ignore_errors=True)
    assert not problems, "\n".join(problems)
    assert codes.get(2, 0) > 0  # the damage was noticed somewhere: the checks can fail
