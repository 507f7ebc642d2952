"""Hostile and broken input: every case gives exit code 2 (or the documented one), a message naming the
problem, no traceback, and leaves no partial file behind. Plus property tests on random YAML and CSV."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import flat, npy_declaring, npz_bytes, zip_bomb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bpcli.commands import app
from bpcli.data.preprocess import Preprocess
from bpcli.errors import BpcliError, DataError, RunError
from bpcli.runs.run import Run

runner = CliRunner()
BOMB = "\n".join(
    [f"a0: &a0 [{','.join(['lol'] * 9)}]"]
    + [f"a{n}: &a{n} [{','.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
)


def config(source="data.csv", **sections) -> str:
    document = {"name": "t", "seed": 0, "data": {"source": source}, "output": {"dir": "runs"}}
    document["training"] = {"epochs": 2}
    for key, value in sections.items():
        document[key] = {**document.get(key, {}), **value} if isinstance(value, dict) else value
    return yaml.safe_dump(document)


def csv_rows(*rows: str) -> str:
    return "\n".join(rows) + "\n"


GOOD_CSV = csv_rows("a,b,label", *[f"{i % 7},{i % 3},{'xy'[i % 2]}" for i in range(40)])


def files_in(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def check(result, code: int, *phrases: str) -> None:
    """The exit code, the phrases in the message, and no traceback."""
    output = flat(result.output)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in output, f"{phrase!r} not in {output!r}"


def run_case(tmp_path, monkeypatch, files: dict, args: list[str], code: int, *phrases: str):
    """Write `files` into an empty folder, run bpcli there; nothing new may appear afterwards."""
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = files_in(tmp_path)
    result = runner.invoke(app, args)
    check(result, code, *phrases)
    assert files_in(tmp_path) == before, "partial files left behind"
    assert not (tmp_path / "runs").exists()
    return result


def npz_member(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz_members(**members: bytes) -> bytes:
    """An .npz from raw .npy bytes per array (headers that may lie about their size)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def corrupted_compressed_npz() -> bytes:
    """Weights of the right shapes whose W1 member holds a broken deflate stream (zlib.error)."""
    buffer = io.BytesIO()
    shapes = {"W1": (2, 4), "b1": (4,), "W2": (4, 2), "b2": (2,)}
    np.savez_compressed(buffer, **{name: np.ones(shape) for name, shape in shapes.items()})
    data = bytearray(buffer.getvalue())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("W1.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start : start + info.compress_size] = b"\xff" * info.compress_size  # invalid block type
    return bytes(data)


def pickled_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, W1=np.array([{"a": 1}, None], dtype=object))
    return buffer.getvalue()


def pickled_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([1, "x", None], dtype=object), allow_pickle=True)
    return buffer.getvalue()


# ---------------------------------------------------------------------------- YAML and config

TRAIN = ["train", "c.yaml"]
CONFIG_CASES = {
    "alias bomb": (BOMB, ["alias bomb"]),
    "huge file": ("# " + "x" * 1_100_000 + "\n", ["larger than 1000000 bytes"]),
    "list document": ("- a\n- b\n", ["must be a mapping", "list"]),
    "scalar document": ("just text\n", ["must be a mapping", "str"]),
    "empty document": ("", ["must be a mapping", "empty"]),
    "duplicate key": (
        "seed: 1\nseed: 2\ndata: {source: iris}\n",
        ["duplicate key 'seed'", "line 2"],
    ),
    "duplicate nested key": (
        "data:\n  source: iris\n  source: wine\n",
        ["duplicate key 'data.source'", "line 3"],
    ),
    "syntax error": ("data: [unclosed\n", ["invalid YAML"]),
    "python object tag": ("data: !!python/object/apply:os.system ['echo hi']\n", ["invalid YAML"]),
    "non-UTF-8 config": (b"data:\n  source: \xff\xfe\n", ["not UTF-8"]),
    "deep nesting": ("data: " + "[" * 3000 + "]" * 3000 + "\n", ["nested too deeply"]),
    "unknown key": (config(training={"epoch": 3}), ["training.epoch", "did you mean 'epochs'"]),
    "wrong type": (config(training={"epochs": "many"}), ["training.epochs", "integer"]),
    "infinite learning rate": (
        "data: {source: iris}\noptimizer: {lr: .inf}\n",
        ["optimizer.lr", "line 2", "finite number"],
    ),
    "unknown activation": (config(model={"activation": "relux"}), ["did you mean 'relu'"]),
    "network too big for memory": (
        config(source="iris", model={"hidden": [10**12]}),
        ["does not fit in memory"],
    ),
    "complex key": ("? [a, b]\n: 1\ndata: {source: iris}\n", ["line 1", "plain name", "list"]),
    "mapping as key": ("? {a: 1}\n: 1\ndata: {source: iris}\n", ["plain name", "mapping"]),
    "NUL byte in a string": ('name: "a\\0b"\ndata: {source: xor}\n', ["name", "NUL byte"]),
    "name with a slash": (config(source="xor", name="../escaped"), ["must not", "slash"]),
    "name '..'": (config(source="xor", name=".."), ["must not", "'..'"]),
    "a trillion generated samples": (
        config(source="moons", data={"n_samples": 10**12}),
        ["n_samples=1000000000000", "does not fit in memory"],
    ),
    "data file name too long": (config(source="d" * 300 + ".csv"), ["File name too long"]),
    "output.dir name too long": (
        config(source="xor", output={"dir": "o" * 300}),
        ["cannot write the run folder", "File name too long"],
    ),
}


@pytest.mark.parametrize("name", CONFIG_CASES)
def test_bad_config(tmp_path, monkeypatch, name):
    text, phrases = CONFIG_CASES[name]
    run_case(tmp_path, monkeypatch, {"c.yaml": text, "data.csv": GOOD_CSV}, TRAIN, 2, *phrases)


def test_alias_bomb_is_refused_quickly_and_small(tmp_path, monkeypatch):
    import resource
    import time

    started, peak = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run_case(tmp_path, monkeypatch, {"c.yaml": BOMB}, TRAIN, 2, "alias bomb")
    assert time.process_time() - started < 10  # generous: it takes milliseconds
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # KiB


COMMAND_LINE_CASES = {
    "missing": (["train", "missing.yaml"], ["config file not found"]),
    "directory": (["train", "folder"], ["config file not found"]),
    "set-no-equals": (["train", "c.yaml", "--set", "optimizer.lr"], ["is not KEY=VALUE"]),
    "set-nan": (
        ["train", "c.yaml", "--set", "optimizer.lr=.nan"],
        ["optimizer.lr", "finite number"],
    ),
    "set-not-section": (
        ["train", "c.yaml", "--set", "data.source.x=1"],
        ["'data.source' is not a section"],
    ),
    "set-deep": (
        ["train", "c.yaml", "--set", "model.hidden=" + "[" * 3000],
        ["--set model.hidden"],
    ),
    "none": (["train"], ["missing CONFIG", "--resume"]),
    "set-deep-key-path": (
        ["train", "c.yaml", "--set", "a." * 3000 + "b=1"],
        ["3001 levels of keys", "at most 8"],
    ),
    "set-nul": (["train", "c.yaml", "--set", "name=a\x00b"], ["--set name", "NUL byte"]),
    "out-name-too-long": (
        ["train", "c.yaml", "--out", "x" * 300],
        ["cannot write the run folder", "too long"],
    ),
    "config-name-too-long": (["train", "x" * 300 + ".yaml"], ["too long"]),
    "source-name-too-long": (
        ["validate", "c.yaml", "--set", "data.source=" + "d" * 300 + ".csv"],
        ["too long"],
    ),
}


@pytest.mark.parametrize("name", COMMAND_LINE_CASES)
def test_bad_command_line(tmp_path, monkeypatch, name):
    args, phrases = COMMAND_LINE_CASES[name]
    (tmp_path / "folder").mkdir()
    run_case(tmp_path, monkeypatch, {"c.yaml": config(), "data.csv": GOOD_CSV}, args, 2, *phrases)


# ---------------------------------------------------------------------------- data files

DATA_CASES = {
    "empty file": ("data.csv", "", {}, ["data.csv: empty file"]),
    "header only": ("data.csv", "a,b,label\n", {}, ["header only"]),
    "one class only": (
        "data.csv",
        csv_rows("a,b,y", "1,2,x", "3,4,x", "5,6,x"),
        {},
        ["only one class"],
    ),
    "ragged short row": (
        "data.csv",
        csv_rows("a,b,y", "1,2,x", "3,y"),
        {},
        ["line 3: 2 fields", "header has 3"],
    ),
    "ragged long row": ("data.csv", csv_rows("a,b,y", "1,2,3,x"), {}, ["line 2: 4 fields"]),
    "NaN feature": (
        "data.csv",
        csv_rows("a,b,y", "1,2,x", "nan,4,y"),
        {},
        ["line 3", "'a'", "not a finite number"],
    ),
    "inf feature": (
        "data.csv",
        csv_rows("a,b,y", "1,inf,x", "3,4,y"),
        {},
        ["line 2", "'b'", "not a finite"],
    ),
    "empty feature cell": ("data.csv", csv_rows("a,b,y", "1,,x", "3,4,y"), {}, ["line 2", "'b'"]),
    "text feature": ("data.csv", csv_rows("a,b,y", "1,red,x", "3,4,y"), {}, ["line 2", "'red'"]),
    "missing target": (
        "data.csv",
        csv_rows("a,b,y", "1,2,x", "3,4,"),
        {},
        ["line 3", "missing or non-finite target"],
    ),
    "non-UTF-8 bytes": ("data.csv", b"a,b,y\n1,2,\xe9t\xe9\n", {}, ["data.csv: not UTF-8"]),
    "huge number of columns": (
        "data.csv",
        ",".join(f"c{i}" for i in range(100_001)) + "\n",
        {},
        ["100001 columns, more than 100000"],
    ),
    "huge field": (
        "data.csv",
        "a,y\n" + "1" * 200_000 + ",x\n",
        {},
        ["line 2", "unreadable CSV", "field larger"],
    ),
    "target not a column": (
        "data.csv",
        GOOD_CSV,
        {"target": "species"},
        ["column 'species' is not in", "columns: a, b, label"],
    ),
    "target index out of range": (
        "data.csv",
        GOOD_CSV,
        {"target": 7},
        ["column 7 is out of range"],
    ),
    "single column": ("data.csv", csv_rows("y", "1", "2"), {}, ["found 1 column, 'y'"]),
    "three classes for binary loss": (
        "data.csv",
        csv_rows("a,y", "1,x", "2,y", "3,z"),
        {"loss": "binary_cross_entropy"},
        ["exactly 2 classes"],
    ),
    "text target for regression": (
        "data.csv",
        GOOD_CSV,
        {"loss": "mse"},
        ["holds text", "regression"],
    ),
    "no rows left for training": (
        "data.csv",
        csv_rows("a,y", "1,x", "2,y"),
        {"validation_split": 0.4, "test_split": 0.5},
        ["nothing left for training"],
    ),
    "data file missing": ("other.csv", GOOD_CSV, {}, ["file not found", "data.csv"]),
    "unknown extension": (
        "data.txt",
        GOOD_CSV,
        {"source": "data.txt"},
        ["neither a built-in dataset", "built-in:"],
    ),
    "pickled npy": (
        "data.npy",
        pickled_npy(),
        {"source": "data.npy"},
        ["data.npy: not a readable data file", "pickle"],
    ),
    "npz without y": (
        "data.npz",
        npz_bytes(X=np.zeros((4, 2))),
        {"source": "data.npz"},
        ["missing array(s) ['y']"],
    ),
    "truncated npz": (
        "data.npz",
        npz_bytes(X=np.zeros((4, 2)), y=np.arange(4))[:100],
        {"source": "data.npz"},
        ["data.npz: not a readable data file"],
    ),
    "NaN in npz": (
        "data.npz",
        npz_bytes(X=np.array([[1.0, np.nan], [2, 3]]), y=np.arange(2)),
        {"source": "data.npz"},
        ["finite numbers"],
    ),
    "npz rows mismatch": (
        "data.npz",
        npz_bytes(X=np.zeros((4, 2)), y=np.arange(3)),
        {"source": "data.npz"},
        ["one row per target"],
    ),
    "npz X without columns": (
        "data.npz",
        npz_bytes(X=np.zeros((4, 0)), y=np.arange(4)),
        {"source": "data.npz"},
        ["X has no feature columns"],
    ),
    "complex npz features": (
        "data.npz",
        npz_bytes(X=np.ones((4, 2), complex), y=np.arange(4)),
        {"source": "data.npz"},
        ["finite numbers (real", "complex128"],
    ),
    "NaN regression target in npz": (
        "data.npz",
        npz_bytes(X=np.ones((4, 2)), y=np.array([1.0, np.nan, 2.0, 3.0])),
        {"source": "data.npz", "loss": "mse"},
        ["y holds NaN or inf (row 1)"],
    ),
    "npz header declaring a trillion floats": (
        "data.npz",
        npz_members(X=npy_declaring((10**6, 10**6)), y=npz_member(np.arange(4))),
        {"source": "data.npz"},
        ["declares shape (1000000, 1000000)", "truncated or corrupt"],
    ),
    "npy header declaring a trillion floats": (
        "data.npy",
        npy_declaring((10**6, 10**6)),
        {"source": "data.npy"},
        ["declares shape (1000000, 1000000)", "truncated or corrupt"],
    ),
    "repeated header names": (
        "data.csv",
        csv_rows("a,a,y", "1,2,x", "3,4,y"),
        {},
        ["repeats the column name(s) a"],
    ),
    "a 17 MB header line": (
        "data.csv",
        ",".join(["c"] * 9_000_000) + "\n",
        {},
        ["a line longer than 16777216 characters"],
    ),
}


@pytest.mark.parametrize("name", DATA_CASES)
def test_bad_data(tmp_path, monkeypatch, name):
    filename, content, options, phrases = DATA_CASES[name]
    sections = {"data": {k: v for k, v in options.items() if k != "loss"}}
    if "loss" in options:
        sections["loss"] = options["loss"]
    text = config(**sections)
    run_case(tmp_path, monkeypatch, {"c.yaml": text, filename: content}, TRAIN, 2, *phrases)


def test_label_never_seen_in_training_is_a_data_error():
    prep = Preprocess("classification", ["a"], "y", classes=["cat", "dog"], outputs=2)
    with pytest.raises(DataError) as error:
        prep.encode(np.array(["cat", "emu"]), np.float32, origin="new.csv")
    assert error.value.exit_code == 2
    assert "new.csv: label 'emu' was not seen in training" in str(error.value)
    assert "['cat', 'dog']" in str(error.value)


# ---------------------------------------------------------------------------- weights (init_from)

WEIGHT_CASES = {
    "pickled object array": (pickled_npz(), ["not a readable weights .npz", "pickle"]),
    "truncated": (npz_bytes(W1=np.zeros((2, 4)))[:50], ["not a readable weights .npz"]),
    "not a zip at all": (b"\x00garbage" * 20, ["not a readable weights .npz"]),
    "wrong shape": (
        npz_bytes(W1=np.zeros((3, 4)), b1=np.zeros(4), W2=np.zeros((4, 2)), b2=np.zeros(2)),
        ["'W1' has shape (3, 4)", "needs (2, 4)"],
    ),
    "missing array": (npz_bytes(W1=np.zeros((2, 4)), b1=np.zeros(4)), ["no array 'W2'"]),
    "integer weights": (
        npz_bytes(W1=np.zeros((2, 4), int), b1=np.zeros(4), W2=np.zeros((4, 2)), b2=np.zeros(2)),
        ["not floating point"],
    ),
    "NaN weights": (
        npz_bytes(W1=np.full((2, 4), np.nan), b1=np.zeros(4), W2=np.zeros((4, 2)), b2=np.zeros(2)),
        ["'W1' holds NaN or inf"],
    ),
    "finite in float64, inf in float32": (
        npz_bytes(W1=np.full((2, 4), 1e300), b1=np.zeros(4), W2=np.zeros((4, 2)), b2=np.zeros(2)),
        ["'W1' holds NaN or inf (as float32)"],
    ),
    "corrupted compressed stream": (
        corrupted_compressed_npz(),
        ["not a readable weights .npz"],
    ),
    "header declaring a trillion floats": (
        npz_members(W1=npy_declaring((10**6, 10**6))),
        ["declares shape (1000000, 1000000)", "truncated or corrupt"],
    ),
}


@pytest.mark.parametrize("name", WEIGHT_CASES)
def test_bad_init_weights(tmp_path, monkeypatch, name):
    content, phrases = WEIGHT_CASES[name]
    text = config(source="xor", model={"hidden": [4], "init_from": "w.npz"})
    run_case(tmp_path, monkeypatch, {"c.yaml": text, "w.npz": content}, TRAIN, 2, *phrases)


def test_loaded_run_refuses_pickled_weights(tmp_path):
    run = tmp_path / "r"
    result = runner.invoke(app, ["train", "configs/xor.yaml", "--out", str(run), "-q"])
    assert result.exit_code == 0, result.output
    (run / "weights.npz").write_bytes(pickled_npz())
    with pytest.raises(RunError, match="not a readable weights .npz") as error:
        Run.load(run)
    assert error.value.exit_code == 2


# ---------------------------------------------------------------------------- checkpoints (--resume)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """An interrupted-looking xor run: config, preprocess, metrics and a checkpoint after 3 epochs."""
    run = tmp_path_factory.mktemp("base") / "run"
    args = ["train", "configs/xor.yaml", "--out", str(run), "-q", "--set", "training.epochs=3"]
    assert runner.invoke(app, args).exit_code == 0
    for name in ("summary.json", "weights.npz"):
        (run / name).unlink()
    document = yaml.safe_load((run / "config.yaml").read_text())
    document["training"]["epochs"] = 6
    (run / "config.yaml").write_text(yaml.safe_dump(document))
    return run


def rewrite_checkpoint(path: Path, change) -> None:
    with np.load(path) as archive:
        arrays = dict(archive)
    meta = json.loads(arrays["meta"].tobytes())
    change(arrays, meta)
    if "meta" in arrays and "raw" not in meta:
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    path.write_bytes(npz_bytes(**arrays))


def drop(key):
    return lambda arrays, meta: arrays.pop(key)


def set_meta(key, value):
    return lambda arrays, meta: meta.__setitem__(key, value)


CHECKPOINT_CASES = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:300]), ["not a readable checkpoint"]),
    "pickled object array": (
        lambda p: p.write_bytes(pickled_npz()),
        ["not a readable checkpoint", "pickle"],
    ),
    "a bare .npy": (lambda p: p.write_bytes(pickled_npy()), ["not a readable checkpoint"]),
    "weights file, no metadata": (
        lambda p: rewrite_checkpoint(p, drop("meta")),
        ["no checkpoint metadata"],
    ),
    "metadata not JSON": (
        lambda p: rewrite_checkpoint(
            p,
            lambda a, m: (
                a.__setitem__("meta", np.frombuffer(b"{oops", np.uint8)),
                m.update(raw=1),
            ),
        ),
        ["metadata is not valid JSON"],
    ),
    "metadata field missing": (
        lambda p: rewrite_checkpoint(p, lambda a, m: m.pop("epoch")),
        ["invalid checkpoint metadata: epoch"],
    ),
    "negative epoch": (
        lambda p: rewrite_checkpoint(p, set_meta("epoch", -1)),
        ["invalid checkpoint metadata: epoch"],
    ),
    "wrong weight shape": (
        lambda p: rewrite_checkpoint(
            p, lambda a, m: a.__setitem__("W1", np.zeros((5, 5), np.float32))
        ),
        ["'W1' has shape (5, 5)"],
    ),
    "missing weight": (
        lambda p: rewrite_checkpoint(p, drop("b2")),
        ["weights holds", "the network needs"],
    ),
    "missing optimizer moment": (
        lambda p: rewrite_checkpoint(p, drop("optimizer.exp_avg.W1")),
        ["optimizer. holds"],
    ),
    "integer array": (
        lambda p: rewrite_checkpoint(p, lambda a, m: a.__setitem__("b1", np.zeros(2, np.int64))),
        ["'b1' is int64, not floating point"],
    ),
    "NaN weight": (
        lambda p: rewrite_checkpoint(p, lambda a, m: a["W2"].__setitem__((0, 0), np.nan)),
        ["'W2' holds NaN or inf"],
    ),
    "bad generator state": (
        lambda p: rewrite_checkpoint(p, set_meta("rng_state", {"bit_generator": "MT19937"})),
        ["invalid random-generator state"],
    ),
    "history length mismatch": (
        lambda p: rewrite_checkpoint(p, set_meta("history", [])),
        ["history has 0 epochs"],
    ),
    "unexpected array": (
        lambda p: rewrite_checkpoint(p, lambda a, m: a.__setitem__("evil.x", np.zeros(1))),
        ["unexpected array 'evil.x'"],
    ),
    "data changed": (
        lambda p: rewrite_checkpoint(p, set_meta("data_fingerprint", "0" * 16)),
        ["the data differ"],
    ),
    "checkpoint missing": (lambda p: p.unlink(), ["no checkpoint", "checkpoint_every"]),
    "config.yaml missing": (lambda p: (p.parent / "config.yaml").unlink(), ["not a run folder"]),
}


@pytest.mark.parametrize("name", CHECKPOINT_CASES)
def test_bad_checkpoint(tmp_path, finished_run, name):
    damage, phrases = CHECKPOINT_CASES[name]
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    damage(run / "checkpoint.npz")
    before = files_in(tmp_path)
    check(runner.invoke(app, ["train", "--resume", str(run)]), 2, *phrases)
    assert files_in(tmp_path) == before


@pytest.mark.parametrize(
    "extra, phrases",
    [
        (["--set", "optimizer.name=sgd"], ["--set optimizer.name", "changes the optimizer"]),
        (["--set", "training.epochs=2"], ["already at epoch 3", "training.epochs=2"]),
        (["configs/xor.yaml"], ["give no CONFIG"]),
        (["--out", "elsewhere"], ["give no CONFIG, --out or --force"]),
    ],
    ids=["other-optimizer", "fewer-epochs", "with-config", "with-out"],
)
def test_resume_refuses_what_does_not_fit(tmp_path, finished_run, extra, phrases):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    before = files_in(tmp_path)
    check(runner.invoke(app, ["train", "--resume", str(run), *extra]), 2, *phrases)
    assert files_in(tmp_path) == before


def test_resume_of_a_missing_folder(tmp_path):
    check(
        runner.invoke(app, ["train", "--resume", str(tmp_path / "nope")]), 2, "run folder not found"
    )


# ---------------------------------------------------------------------------- output folder


def test_out_folder_not_empty_is_refused_without_force(tmp_path, monkeypatch):
    files = {"c.yaml": config(source="xor"), "out/keep.txt": "precious"}
    run_case(tmp_path, monkeypatch, files, [*TRAIN, "--out", "out"], 2, "not empty", "--force")
    # --force reuses only a folder bpcli made: a user's folder is left alone
    check(runner.invoke(app, [*TRAIN, "--out", "out", "--force"]), 2, "made by bpcli")
    assert os.listdir(tmp_path / "out") == ["keep.txt"]
    # in a run folder bpcli made, --force replaces bpcli's files and keeps the user's own
    assert runner.invoke(app, [*TRAIN, "--out", "run", "-q"]).exit_code == 0
    (tmp_path / "run" / "notes.txt").write_text("mine")
    result = runner.invoke(app, [*TRAIN, "--out", "run", "--force", "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


def test_out_is_a_file(tmp_path, monkeypatch):
    files = {"c.yaml": config(source="xor"), "out": "a file"}
    run_case(
        tmp_path, monkeypatch, files, [*TRAIN, "--out", "out"], 2, "exists and is not a folder"
    )


def test_out_inside_a_file_is_reported_before_training(tmp_path, monkeypatch):
    files = {"c.yaml": config(source="xor"), "blocker": "a file"}
    result = run_case(
        tmp_path,
        monkeypatch,
        files,
        [*TRAIN, "--out", "blocker/run"],
        2,
        "cannot write the run folder",
    )
    assert "epoch 1/" not in result.output


def test_output_dir_inside_a_file(tmp_path, monkeypatch):
    text = config(source="xor", output={"dir": "blocker/runs"})
    run_case(
        tmp_path,
        monkeypatch,
        {"c.yaml": text, "blocker": "x"},
        TRAIN,
        2,
        "cannot write the run folder",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        files = {"c.yaml": config(source="xor")}
        run_case(tmp_path, monkeypatch, files, [*TRAIN, "--out", "locked/run"], 2, "cannot write")
    finally:
        locked.chmod(0o755)


# ---------------------------------------------------------------------------- property tests


def no_traceback(result) -> None:
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output


FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
scalars = (
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats() | st.text(max_size=8)
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
config_like = st.fixed_dictionaries(
    {"data": st.fixed_dictionaries({"source": st.sampled_from(["xor", "iris", "nope", "x.csv"])})},
    optional={
        "model": st.dictionaries(
            st.sampled_from(["hidden", "activation", "init"]), documents, max_size=2
        ),
        "optimizer": st.dictionaries(
            st.sampled_from(["name", "lr", "schedule"]), documents, max_size=2
        ),
        "training": st.dictionaries(
            st.sampled_from(["epochs", "batch_size", "clip_grad_norm"]), documents, max_size=2
        ),
        "loss": documents,
        "seed": documents,
    },
)


@FAST
@given(text=st.text(max_size=200))
def test_random_yaml_text_never_gives_a_traceback(tmp_path, text):
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    no_traceback(runner.invoke(app, ["validate", str(tmp_path / "r.yaml")]))


@FAST
@given(document=documents | config_like)
def test_random_yaml_documents_never_give_a_traceback(tmp_path, document):
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    no_traceback(runner.invoke(app, ["validate", str(tmp_path / "r.yaml")]))


@FAST
@given(
    data=st.binary(max_size=300)
    | st.text(alphabet='0123456789.,-\nabcn"e ', max_size=300).map(str.encode)
)
def test_random_csv_bytes_never_give_a_traceback(tmp_path, data):
    (tmp_path / "d.csv").write_bytes(data)
    (tmp_path / "c.yaml").write_text(config(source=str(tmp_path / "d.csv")))
    no_traceback(runner.invoke(app, ["validate", str(tmp_path / "c.yaml")]))


def test_every_user_error_has_exit_code_2():
    assert BpcliError("x").exit_code == DataError("x").exit_code == RunError("x").exit_code == 2


def test_case_count():
    cases = len(CONFIG_CASES) + len(DATA_CASES) + len(WEIGHT_CASES) + len(CHECKPOINT_CASES)
    assert cases + len(COMMAND_LINE_CASES) >= 80


def test_an_error_after_the_run_folder_exists_removes_it(tmp_path, monkeypatch):
    text = config(source="iris", training={"epochs": 2, "early_stopping": {"monitor": "val_r2"}})
    run_case(tmp_path, monkeypatch, {"c.yaml": text}, TRAIN, 2, "'val_r2' is not measured")


# ---------------------------------------------------------------------------- compressed bombs


def peak_bytes_of(args) -> int:
    """The peak of Python-tracked memory (NumPy's arrays included) while bpcli runs `args`."""
    import tracemalloc

    tracemalloc.start()
    try:
        result = runner.invoke(app, args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    check(result, 2)
    return peak


BOMB_BYTES = 200_000_000
"""A 200 MB array that compresses to ~200 KB: refused from its header, never expanded."""


def test_a_zip_bomb_of_data_is_refused_unexpanded(tmp_path):
    bomb = zip_bomb(tmp_path / "d.npz", "X", (BOMB_BYTES // 16, 2), {"y": np.arange(4)})
    (tmp_path / "c.yaml").write_text(config(source=str(bomb)))
    assert bomb.stat().st_size < BOMB_BYTES / 100
    assert peak_bytes_of(["validate", str(tmp_path / "c.yaml")]) < BOMB_BYTES / 4


def test_a_zip_bomb_of_weights_is_refused_unexpanded(tmp_path):
    bomb = zip_bomb(tmp_path / "w.npz", "W1", (BOMB_BYTES // 8,), {"b1": np.zeros(4)})
    text = config(source="xor", model={"hidden": [4], "init_from": str(bomb)})
    (tmp_path / "c.yaml").write_text(text)
    assert peak_bytes_of(["validate", str(tmp_path / "c.yaml")]) < BOMB_BYTES / 4
