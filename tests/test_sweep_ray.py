"""`bpcli sweep --backend ray` on a real Ray: a local instance (`ray.init(num_cpus=2)`) and a head node
started with `ray start --head`, joined with --address. HOME and Ray's temporary folder live in a
temporary folder; every Ray process a test starts is stopped by it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import flat, runner
from test_sweep import read_trials, weights, write_spec

from bpcli import api
from bpcli.commands import app

ray = pytest.importorskip("ray", reason='the Ray backend needs Ray: pip install "bpcli[ray]"')

SPEC = {"grid": {"optimizer.lr": [0.01, 0.03]}, "seeds": [0, 1]}


@pytest.fixture
def ray_home(monkeypatch):
    """HOME and RAY_TMPDIR in a short temporary folder (Ray's socket paths must stay short), no
    cluster token (the clusters listen on 127.0.0.1 only); the environment as it was afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bpray-", dir="/tmp"))
    environ = dict(os.environ)  # ray.init sets RAY_AUTH_MODE, PYTHONBREAKPOINT, ... in os.environ
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("RAY_TMPDIR", str(folder / "t"))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S", "0")  # stop at once when told
    monkeypatch.setenv("RAY_gcs_server_port_wait_time_s", "120")  # a busy 2-core host is slow
    yield folder
    os.environ.clear()
    os.environ.update(environ)
    shutil.rmtree(folder, ignore_errors=True)


def same_weights(a: Path, b: Path, trial_ids) -> bool:
    for trial in trial_ids:
        x, y = weights(a / "trials" / trial), weights(b / "trials" / trial)
        if x.keys() != y.keys() or not all(np.array_equal(x[k], y[k]) for k in x):
            return False
    return True


def test_ray_trials_are_bitwise_the_local_ones_and_land_in_the_sweep_folder(tmp_path, ray_home):
    spec = write_spec(tmp_path, SPEC)
    local = api.sweep(spec, out=tmp_path / "local", workers=1, threads=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = api.sweep(spec, out=tmp_path / "ray", backend="ray", threads=1)
        assert ray.is_initialized()  # a Ray the caller started is used and left running
    finally:
        ray.shutdown()
    ids = [t.id for t in local.plan.trials]
    assert [t.id for t in remote.plan.trials] == ids
    assert [row["status"] for row in read_trials(tmp_path / "ray")] == ["done"] * 4
    for trial in ids:  # written on this machine from the files the tasks sent back
        api.load(tmp_path / "ray" / "trials" / trial)
    assert same_weights(tmp_path / "local", tmp_path / "ray", ids)
    assert remote.summary["points"] == local.summary["points"]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture
def ray_head(ray_home):
    """`ray start --head --block` on free ports (2 CPUs) in its own process group; stopped after."""
    port, agent, grpc, runtime, metrics = free_ports(5)
    command = [
        str(Path(sys.executable).parent / "ray"),
        "start",
        "--head",
        "--block",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={grpc}",
        f"--runtime-env-agent-port={runtime}",
        f"--metrics-export-port={metrics}",
        f"--temp-dir={ray_home / 't'}",
    ]
    head = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        seen = []
        for line in head.stdout:  # wait for the state "started", not for a time
            seen.append(line)
            if "Ray runtime started" in line:
                break
        else:
            raise AssertionError(f"ray start --head did not start: {''.join(seen)}")
        yield f"127.0.0.1:{port}"
    finally:
        if head.poll() is None:
            os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


def sweep_on(spec: Path, address: str, out: Path):
    args = ["sweep", str(spec), "--backend", "ray", "--address", address, "--out", str(out)]
    return runner.invoke(app, args)


def test_sweep_joins_a_running_ray_cluster_with_address(tmp_path, ray_head):
    spec = write_spec(tmp_path, SPEC)
    result = sweep_on(spec, ray_head, tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "s")
    assert not ray.is_initialized()  # the sweep left the cluster it joined
    local = api.sweep(spec, out=tmp_path / "local", workers=2, threads=1)
    assert same_weights(tmp_path / "local", tmp_path / "s", [t.id for t in local.plan.trials])


def test_a_wrong_address_is_a_clear_error(tmp_path, ray_home):
    spec = write_spec(tmp_path, SPEC)
    (port,) = free_ports(1)
    result = sweep_on(spec, f"127.0.0.1:{port}", tmp_path / "s")
    assert result.exit_code == 2, result.output
    assert f"--address 127.0.0.1:{port}: cannot join the Ray cluster" in flat(result.output)
    assert not (tmp_path / "s").exists()


class StopAfterFirstTrial(api.SweepListener):
    """Sends this process SIGINT once, when a first trial came back done: a Ctrl-C mid-sweep."""

    sent = False

    def on_trial(self, trial, outcome, row) -> None:
        if outcome.status == "done" and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_cancels_ray_tasks_and_resume_on_ray_finishes_bitwise(tmp_path, ray_home):
    spec = write_spec(
        tmp_path,
        {
            "grid": {"training.epochs": [600, 2]},  # 000, 001 long (seconds); 002, 003 short
            "seeds": [0, 1],
            "set": {"training.checkpoint_every": 1, "data.n_samples": 400},
        },
    )
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(api.SweepInterrupted) as stopped:
            api.sweep(spec, out=tmp_path / "s", backend="ray", listener=StopAfterFirstTrial())
        assert stopped.value.exit_code == 130
        rows = read_trials(tmp_path / "s")
        statuses = [row["status"] for row in rows]
        assert "done" in statuses
        # Ray starts its workers one by one, so which trial comes back first is Ray's choice; the
        # long ones take seconds, so at least one was still running (or waiting) at the stop
        assert {"interrupted", "pending"} & set(statuses[:2]), statuses
        for row in rows:  # stopped mid-training (its checkpoint sent back), or before it began
            assert row["status"] in ("done", "interrupted", "pending")
            if row["status"] != "done":
                checkpoint = tmp_path / "s" / row["run"] / "checkpoint.npz"
                assert checkpoint.is_file() == (row["status"] == "interrupted")
        resumed = api.resume_sweep(tmp_path / "s", backend="ray")
    finally:
        ray.shutdown()
    assert [row["status"] for row in read_trials(tmp_path / "s")] == ["done"] * 4
    api.sweep(spec, out=tmp_path / "local", workers=2, threads=1)
    assert same_weights(tmp_path / "local", tmp_path / "s", [t.id for t in resumed.plan.trials])
