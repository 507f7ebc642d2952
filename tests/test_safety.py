"""Nothing lost, nothing crashes: locks and concurrent runs, --force and the manifest, full and
read-only disks, memory limits, signals at the edges, consistent files after a kill, thread counts.

Several tests run bpcli in real processes (to kill one, to limit its memory, to send its stdout to
/dev/full); the disk tests mount a small tmpfs and need root (skipped with the reason otherwise).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import CONFIGS, ROOT, flat, runner, train

import bpcli
from bpcli.commands import app
from bpcli.runs.folder import RunFolder, new_run_dir
from bpcli.training.guard import TrainingInterrupted

FLOWERS = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.4,3.2,4.5,1.5\n"


def bpcli_process(*args: str, env: dict | None = None, **options) -> subprocess.CompletedProcess:
    """`python -m bpcli ARGS` in a real process (stdin empty), its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "bpcli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=300,
        **options,
    )


def no_traceback(result) -> None:
    output = getattr(result, "output", None) or f"{result.stdout}{result.stderr}"
    assert "Traceback" not in output, output


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*.tmp")]


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory) -> Path:
    return train(
        CONFIGS / "iris.yaml", tmp_path_factory.mktemp("safety") / "iris", "training.epochs=5"
    )


# ---------------------------------------------------------------------------- 1. locks, concurrency


def test_a_second_writer_is_refused_naming_the_holders_pid(iris_run, tmp_path):
    run = shutil.copytree(iris_run, tmp_path / "run")
    holder = RunFolder(run).lock()
    try:
        resumed = runner.invoke(app, ["train", "--resume", str(run), "--set", "training.epochs=7"])
        forced = runner.invoke(
            app, ["train", str(CONFIGS / "iris.yaml"), "--out", str(run), "--force", "-q"]
        )
    finally:
        holder.unlock()
    for result in (resumed, forced):
        assert result.exit_code == 2, result.output
        assert f"in use by another bpcli process (pid {os.getpid()})" in flat(result.output)
    assert not (run / ".bpcli.lock").exists()  # released and removed
    result = runner.invoke(app, ["train", "--resume", str(run), "--set", "training.epochs=7", "-q"])
    assert result.exit_code == 0, result.output


def test_eight_parallel_trainings_always_give_eight_complete_folders(tmp_path):
    config = yaml.safe_load((CONFIGS / "iris.yaml").read_text())
    config["data"]["source"] = str(ROOT / "datasets" / "iris.csv")
    config["training"].update(epochs=2, early_stopping=None)
    config["output"] = {"dir": str(tmp_path / "runs")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    for round_ in range(3):
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bpcli", "train", str(tmp_path / "c.yaml"), "-q"]
                + ["--set", f"seed={round_ * 8 + seed}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for seed in range(8)
        ]
        outputs = [process.communicate(timeout=300) for process in processes]
        assert [p.returncode for p in processes] == [0] * 8, outputs
        folders = {Path(out.strip()) for out, _ in outputs}
        assert len(folders) == 8
        seeds = {json.loads((f / "summary.json").read_text())["config_hash"] for f in folders}
        assert len(seeds) == 8  # eight different runs, none overwritten by another
        assert all((f / "weights.npz").is_file() for f in folders)
    assert len(list((tmp_path / "runs").iterdir())) == 24


def test_run_folders_made_at_the_same_moment_are_never_shared(tmp_path):
    # 32 threads released together, 20 times: the name check and the creation are one step
    for round_ in range(20):
        start, made = threading.Barrier(32), []

        def make(parent=tmp_path / str(round_), start=start, made=made):
            start.wait()
            made.append(new_run_dir(parent, "x", None, False))

        threads = [threading.Thread(target=make) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({path for path, _ in made}) == 32 and all(new for _, new in made)


def test_two_trainings_into_one_out_folder_never_both_succeed(tmp_path):
    args = ["train", str(CONFIGS / "iris.yaml"), "--out", str(tmp_path / "same"), "-q"]
    for attempt in range(3):
        shutil.rmtree(tmp_path / "same", ignore_errors=True)
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "bpcli", *args, "--set", f"seed={seed}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for seed in (attempt, attempt + 10)
        ]
        outputs = [process.communicate(timeout=300) for process in processes]
        codes = sorted(p.returncode for p in processes)
        assert codes == [0, 2], outputs
        loser = next(
            err for (_, err), p in zip(outputs, processes, strict=True) if p.returncode == 2
        )
        assert "in use by another bpcli process" in loser or "not empty" in loser


# ---------------------------------------------------------------------------- 8. --force, manifest


def test_force_never_deletes_a_users_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the user's own config, in the folder given to --out; the config fails before epoch 1
    Path("config.yaml").write_text(
        "data: {source: iris}\ntraining: {early_stopping: {monitor: r2}}\n"
    )
    result = runner.invoke(app, ["train", "config.yaml", "--out", ".", "--force"])
    assert result.exit_code == 2, result.output
    assert Path("config.yaml").read_text().startswith("data: {source: iris}")
    assert sorted(os.listdir()) == ["config.yaml"]


def test_force_removes_everything_bpcli_wrote_there_before(iris_run, tmp_path):
    run = shutil.copytree(iris_run, tmp_path / "run")
    (run / "curves.png").write_bytes(b"an old picture")  # as `bpcli plot RUN` leaves it
    (run / ".weights.npz.123abc.tmp").write_bytes(b"a killed write")
    (run / "notes.txt").write_text("mine")
    result = runner.invoke(
        app,
        ["train", str(CONFIGS / "iris.yaml"), "--out", str(run), "--force", "-q"]
        + ["--set", "training.diagnostics=false", "--set", "training.epochs=3"],
    )
    assert result.exit_code == 0, result.output
    assert not (run / "curves.png").exists() and not (run / "diagnostics.csv").exists()
    assert temporaries(run) == []
    assert (run / "notes.txt").read_text() == "mine"
    listed = {f["name"] for f in bpcli.inspect(run)["files"]}
    assert "curves.png" not in listed and "diagnostics.csv" not in listed


# ---------------------------------------------------------------------------- 2. disks


@contextmanager
def tmpfs(path: Path, size: str):
    """A small tmpfs at `path` (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
    if mounted.returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


DIGITS = ["train", str(CONFIGS / "digits.yaml"), "-q", "--set", "model.hidden=[256,256]"]


def test_a_full_disk_before_the_first_checkpoint_leaves_no_folder(tmp_path):
    with tmpfs(tmp_path / "disk", "200k") as disk:
        result = bpcli_process(*DIGITS, "--set", "training.epochs=2", "--out", str(disk / "r"))
        assert result.returncode == 2, result.stderr
        no_traceback(result)
        assert "No space left on device" in flat(result.stderr) and str(disk) in result.stderr
        assert os.listdir(disk) == []  # cleanly removed: no folder, no temporary file


def test_a_full_disk_keeps_the_last_good_checkpoint_to_resume_from(tmp_path):
    # one checkpoint (weights and two Adam moments, ~1 MB) fits, a second beside it does not
    with tmpfs(tmp_path / "disk", "1600k") as disk:
        run = disk / "r"
        options = ["--set", "training.epochs=3", "--set", "training.checkpoint_every=1"]
        result = bpcli_process(*DIGITS, *options, "--out", str(run))
        assert result.returncode == 2, result.stderr
        no_traceback(result)
        assert f"cannot write {run / 'checkpoint.npz'}: No space left on device" in flat(
            result.stderr
        )
        assert "bpcli train --resume" in result.stderr
        assert temporaries(disk) == []
        state, _ = RunFolder(run).read_checkpoint()
        assert state.epoch == 1
        remount(disk, "size=16m")
        resumed = bpcli_process("train", "--resume", str(run), "-q")
        assert resumed.returncode == 0, resumed.stderr
        assert RunFolder(run).finished


def test_a_read_only_disk_is_a_clear_error_for_plot_and_resume(iris_run, tmp_path):
    pytest.importorskip("matplotlib")
    with tmpfs(tmp_path / "disk", "8m") as disk:
        run = shutil.copytree(iris_run, disk / "run")
        remount(disk, "ro")
        plotted = runner.invoke(app, ["plot", str(run)])
        resumed = runner.invoke(app, ["train", "--resume", str(run), "--set", "training.epochs=9"])
        evaluated = runner.invoke(app, ["eval", str(run)])
        for result in (plotted, resumed):
            assert result.exit_code == 2, result.output
            assert "Read-only file system" in flat(result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit)
        assert evaluated.exit_code == 0, evaluated.output  # reading needs no write


def test_stdout_on_a_full_device_is_exit_2(iris_run, tmp_path):
    (tmp_path / "flowers.csv").write_text(FLOWERS)
    with open("/dev/full", "w") as full:
        predicted, evaluated = (
            subprocess.run(
                [sys.executable, "-m", "bpcli", *args],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=300,
            )
            for args in (
                ["predict", str(iris_run), str(tmp_path / "flowers.csv")],
                ["eval", str(iris_run), "--json"],
            )
        )
    for result in (predicted, evaluated):
        assert result.returncode == 2, result.stderr
        assert "stdout: No space left on device" in flat(result.stderr)
        assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


def test_output_onto_a_special_file_is_refused_and_leaves_it_alone(iris_run, tmp_path):
    # a FIFO here; with /dev/full as root, a rename would have replaced the device itself
    (tmp_path / "flowers.csv").write_text(FLOWERS)
    os.mkfifo(tmp_path / "pipe.csv")
    result = runner.invoke(
        app,
        [
            "predict",
            str(iris_run),
            str(tmp_path / "flowers.csv"),
            "--output",
            str(tmp_path / "pipe.csv"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "exists and is not a regular file" in flat(result.output)
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe.csv").st_mode)
    assert temporaries(tmp_path) == []


# ---------------------------------------------------------------------------- 3. memory


MEMORY_LIMITED = """
import resource, sys
import bpcli.api
from bpcli.commands import main
status = open("/proc/self/status").read()
size_kib = int(next(line for line in status.splitlines() if line.startswith("VmSize")).split()[1])
limit = (size_kib + 1_400_000) * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = ["bpcli", "train", sys.argv[1], "-q", "--out", sys.argv[2],
            "--set", "model.hidden=[8000,8000]", "--set", "training.epochs=1"]
main()
"""


def test_a_network_that_outgrows_a_memory_limit_is_exit_2(tmp_path):
    # 1.4 GB more than bpcli needs at rest: enough to build an 8000-8000 network (W2 is 256 MB of
    # float32, its gradient as much) and take Adam's steps, not to copy it all into a checkpoint
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_LIMITED, str(CONFIGS / "iris.yaml"), str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    no_traceback(result)
    assert "memory" in result.stderr
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------- 10. signals


class SignalAtLastEpoch(bpcli.Listener):
    """Sends SIGTERM to this process right after the last epoch's last batch."""

    def on_epoch(self, record: dict) -> None:
        if record["epoch"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_after_the_last_epoch_still_stops_with_143(tmp_path):
    run = tmp_path / "run"
    config = str(CONFIGS / "iris.yaml")
    overrides = ["training.epochs=3", "training.early_stopping=null"]
    with pytest.raises(TrainingInterrupted) as stopped:
        bpcli.train(config, overrides, out=run, listener=SignalAtLastEpoch())
    assert stopped.value.exit_code == 143
    assert "resume with" in stopped.value.hint
    assert not RunFolder(run).finished and RunFolder(run).checkpoint.is_file()
    assert bpcli.resume(run).summary["epochs_run"] == 3  # the resumable state is the final one


def test_sigterm_during_predict_output_leaves_no_temporary_file(iris_run, tmp_path):
    rows = "\n".join(["5.1,3.5,1.4,0.2"] * 400_000)
    (tmp_path / "big.csv").write_text(FLOWERS.splitlines()[0] + "\n" + rows + "\n")
    out = tmp_path / "out" / "predictions.csv"
    out.parent.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "bpcli", "predict", str(iris_run), str(tmp_path / "big.csv")]
        + ["--output", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not temporaries(out.parent) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("predict finished before the signal arrived")
    assert process.returncode == 143, stderr
    assert os.listdir(out.parent) == []


# ---------------------------------------------------------------------------- 7. kills between writes

KILL_AFTER = """
import os, sys
real_replace, seen = os.replace, []
def replace(source, target, *args, **kwargs):
    if str(target).endswith("checkpoint.npz"):
        seen.append(target)
        if len(seen) == {at} and {before}:
            os._exit(9)  # as SIGKILL: nothing is cleaned up
    real_replace(source, target, *args, **kwargs)
    if str(target).endswith("checkpoint.npz") and len(seen) == {at}:
        os._exit(9)
os.replace = replace
from bpcli.commands import main
sys.argv = ["bpcli", "train", sys.argv[1], "-q", "--out", sys.argv[2],
            "--set", "training.checkpoint_every=1", "--set", "training.epochs=6",
            "--set", "training.early_stopping=null"]
main()
"""


def killed_run(tmp_path: Path, at: int, before: bool) -> Path:
    run = tmp_path / "run"
    script = KILL_AFTER.format(at=at, before=before)
    killed = subprocess.run(
        [sys.executable, "-c", script, str(CONFIGS / "iris.yaml"), str(run)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 9, killed.stderr
    return run


def epochs_in(path: Path) -> list[int]:
    with open(path, newline="") as stream:
        return [int(row["epoch"]) for row in csv.DictReader(stream)]


def test_a_kill_right_after_a_checkpoint_leaves_no_gap_after_resume(tmp_path):
    run = killed_run(tmp_path, at=3, before=False)
    result = runner.invoke(app, ["train", "--resume", str(run), "-q"])
    assert result.exit_code == 0, result.output
    assert epochs_in(run / "metrics.csv") == [1, 2, 3, 4, 5, 6]
    diagnostics = epochs_in(run / "diagnostics.csv")
    assert sorted(set(diagnostics)) == [1, 2, 3, 4, 5, 6]
    assert len(diagnostics) == 6 * diagnostics.count(1)  # every layer, every epoch, once


def test_a_kill_during_a_write_leaves_a_temporary_that_resume_removes(tmp_path):
    run = killed_run(tmp_path, at=2, before=True)
    assert temporaries(run)  # the killed write's temporary file
    result = runner.invoke(app, ["train", "--resume", str(run), "-q"])
    assert result.exit_code == 0, result.output
    assert temporaries(run) == []


# ---------------------------------------------------------------------------- 5, 6. run files


def test_a_renamed_field_in_preprocess_json_is_a_clear_error(iris_run, tmp_path):
    run = shutil.copytree(iris_run, tmp_path / "run")
    document = json.loads((run / "preprocess.json").read_text())
    document["means"] = document.pop("mean")
    (run / "preprocess.json").write_text(json.dumps(document))
    result = runner.invoke(app, ["predict", str(run), "-"], input=FLOWERS)
    assert result.exit_code == 2, result.output
    assert "preprocess.json: unknown field 'means'" in flat(result.output)


def scaled_weights(source: Path, target: Path, factor: np.floating) -> Path:
    """A copy of the run `source` with its weights times `factor` (in the factor's dtype)."""
    run = shutil.copytree(source, target)
    with np.load(run / "weights.npz") as archive:
        arrays = {name: archive[name] * factor for name in archive.files}
    np.savez(run / "weights.npz", **arrays)
    return run


def test_weights_finite_in_float64_but_not_in_the_runs_dtype_are_refused(iris_run, tmp_path):
    run = scaled_weights(iris_run, tmp_path / "run", np.float64(1e300))
    result = runner.invoke(app, ["predict", str(run), "-"], input=FLOWERS)
    assert result.exit_code == 2, result.output
    assert "holds NaN or inf (as float32)" in flat(result.output)


def test_json_output_is_always_valid_json(iris_run, tmp_path):
    # weights of 1e30 are finite float32, but their norms and the losses they give overflow
    run = scaled_weights(iris_run, tmp_path / "run", np.float32(1e30))

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON (RFC 8259)")

    for command in (["inspect", str(run), "--json"], ["eval", str(run), "--json"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        document = json.loads(result.stdout, parse_constant=refuse)
        assert None in _leaves(document)  # the non-finite numbers, as null


def _leaves(document) -> list:
    if isinstance(document, dict):
        return [leaf for value in document.values() for leaf in _leaves(value)]
    if isinstance(document, list):
        return [leaf for value in document for leaf in _leaves(value)]
    return [document]


def test_special_files_as_inputs_never_hang(iris_run, tmp_path):
    os.mkfifo(tmp_path / "pipe.csv")
    os.mkfifo(tmp_path / "pipe.npz")
    (tmp_path / "folder.csv").mkdir()
    cases = [
        ["predict", str(iris_run), str(tmp_path / "pipe.csv")],
        ["predict", str(iris_run), str(tmp_path / "pipe.npz")],
        ["predict", str(iris_run), str(tmp_path / "folder.csv")],
        ["eval", str(iris_run), "--data", str(tmp_path / "pipe.csv")],
        ["predict", str(iris_run), "p" * 300 + ".csv"],
        ["eval", str(iris_run), "--data", "d" * 300 + ".csv"],
    ]
    for args in cases:
        result = bpcli_process(*args)  # a hang would end in subprocess's TimeoutExpired
        assert result.returncode == 2, (args, result.stderr)
        no_traceback(result)
        assert "not a regular file" in result.stderr or "too long" in result.stderr


def test_a_corrupt_compressed_input_for_predict_is_exit_2(iris_run, tmp_path):
    path = tmp_path / "x.npz"
    np.savez_compressed(path, X=np.ones((50, 4)))
    data = bytearray(path.read_bytes())
    data[60:90] = b"\xff" * 30
    path.write_bytes(bytes(data))
    result = runner.invoke(app, ["predict", str(iris_run), str(path)])
    assert result.exit_code == 2, result.output
    assert "x.npz: not a readable input file" in flat(result.output)


# ---------------------------------------------------------------------------- 9. data edge cases


def test_matching_a_very_wide_header_is_linear(iris_run, tmp_path):
    header = ",".join(f"c{i}" for i in range(200_000))
    (tmp_path / "wide.csv").write_text(header + "\n" + ",".join(["1"] * 200_000) + "\n")
    result = bpcli_process("predict", str(iris_run), str(tmp_path / "wide.csv"))  # 274 s before
    assert result.returncode == 2, result.stderr
    assert "missing sepal_length" in flat(result.stderr) and "(199988 more)" in result.stderr


# ---------------------------------------------------------------------------- 11. BLAS threads


def test_blas_threads_are_recorded_and_a_different_count_on_resume_is_said(tmp_path):
    run = tmp_path / "run"
    args = ["train", str(CONFIGS / "iris.yaml"), "--out", str(run), "-q"]
    args += ["--set", "training.epochs=4", "--set", "training.early_stopping=null"]
    one = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    assert bpcli_process(*args, env=one).returncode == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["versions"]["blas_threads"] == 1
    _, meta = RunFolder(run).read_checkpoint()
    assert meta.blas_threads == 1
    two = {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}
    resumed = bpcli_process("train", "--resume", str(run), "--set", "training.epochs=6", env=two)
    assert resumed.returncode == 0, resumed.stderr
    said = flat(resumed.stderr)
    assert "written with 1 BLAS threads" in said or "BLAS pinned to 1 threads" in said
