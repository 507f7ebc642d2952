"""Where a sweep's trials run: `local`, a pool of worker processes on this machine, or `ray`, tasks
on a Ray cluster (the optional extra bpcli[ray]). Both take a trial's Job and give back its Outcome;
neither schedules anything itself beyond handing trials over as slots free up.

A backend is a context manager: `submit(job)` returns a handle, `wait(pending, timeout)` the
(handle, outcome) pairs that finished, `interrupt(signum, pending)` asks running trials to stop at
their next batch (they write a checkpoint and come back 'interrupted').
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import replace

from bpcli.errors import ConfigError, MissingExtra
from bpcli.runs.folder import RunFolder
from bpcli.sweeps import trial, worker
from bpcli.sweeps.trial import Job, Outcome


def cores() -> int:
    """The CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class LocalBackend:
    """A pool of `workers` processes (spawned, one per worker, reused across trials), each with
    `threads` BLAS threads."""

    name = "local"

    def __init__(self, workers: int | None, threads: int | None, address: str | None):
        if address is not None:
            raise ConfigError(
                "--address is for --backend ray", "drop --address, or add --backend ray"
            )
        self.workers = workers or cores()
        self.threads = threads or max(1, cores() // self.workers)
        self.capacity = self.workers

    def __enter__(self) -> LocalBackend:
        self.before = set(multiprocessing.active_children())
        self.pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=worker.init_worker,
            initargs=(self.threads,),
        )
        return self

    def submit(self, job: Job):
        return self.pool.submit(trial.run_in_folder, job)

    def wait(self, pending: dict, timeout: float) -> list[tuple[object, Outcome]]:
        done, _ = wait_futures(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)
        return [(future, self._outcome(future, pending[future])) for future in done]

    @staticmethod
    def _outcome(future, job: Job) -> Outcome:
        error = future.exception()
        if error is None:
            return future.result()
        # a worker that died (killed, out of memory) or a bug in bpcli: the sweep goes on
        return Outcome(job.trial_id, "failed", message=f"{type(error).__name__}: {error}")

    def interrupt(self, signum: int, pending: dict) -> None:
        """Forward the signal to the workers (they are in their own process groups)."""
        for process in set(multiprocessing.active_children()) - self.before:
            try:
                os.kill(process.pid, signum)
            except ProcessLookupError:
                pass

    def __exit__(self, *exc_info) -> None:
        if exc_info[0] is not None:  # a second signal, or a bug: the workers stop at once too
            self.interrupt(signal.SIGINT, {})
        self.pool.shutdown(wait=exc_info[0] is None, cancel_futures=True)


class RayBackend:
    """Ray tasks of `threads` CPUs each (default 1), on the cluster at `address` ('auto', HOST:PORT)
    or a local Ray instance; at most `workers` trials at a time when given. Trials train in temporary
    folders on the workers and ship their files back."""

    name = "ray"

    def __init__(self, workers: int | None, threads: int | None, address: str | None):
        try:
            import ray
        except ImportError:
            raise MissingExtra('--backend ray needs Ray: pip install "bpcli[ray]"') from None
        self.ray, self.address = ray, address
        self.threads = threads or 1
        self.capacity = workers or float("inf")

    def __enter__(self) -> RayBackend:
        ray = self.ray
        self.started = not ray.is_initialized()
        self.environ = dict(os.environ)  # ray.init sets variables of its own there
        if self.started:
            try:
                reachable(self.address)
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError, OSError) as error:
                raise ConfigError(
                    f"--address {self.address}: cannot join the Ray cluster ({error})",
                    "start one with `ray start --head`, then pass its address (HOST:PORT or auto)",
                ) from None
        self.task = ray.remote(trial.run_shipped).options(
            num_cpus=self.threads, runtime_env={"env_vars": worker.blas_env(self.threads)}
        )
        return self

    def submit(self, job: Job):
        if job.resume:
            job = replace(job, files=RunFolder(job.folder).read_files())
        return self.task.remote(job)

    def wait(self, pending: dict, timeout: float) -> list[tuple[object, Outcome]]:
        done, _ = self.ray.wait(list(pending), num_returns=1, timeout=timeout)
        return [(ref, self._outcome(ref, pending[ref])) for ref in done]

    def _outcome(self, ref, job: Job) -> Outcome:
        try:
            outcome = self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            return Outcome(job.trial_id, "interrupted" if job.resume else "pending")
        except self.ray.exceptions.RayError as error:
            return Outcome(job.trial_id, "failed", message=f"{type(error).__name__}: {error}")
        RunFolder(job.folder).replace_files(outcome.files)
        outcome.files = None
        return outcome

    def interrupt(self, signum: int, pending: dict) -> None:
        """Cancel every pending task: a running one gets SIGINT (it checkpoints and returns)."""
        for ref in pending:
            self.ray.cancel(ref)

    def __exit__(self, *exc_info) -> None:
        if self.started:
            self.ray.shutdown()
            os.environ.clear()
            os.environ.update(self.environ)


def reachable(address: str | None, timeout: float = 10.0) -> None:
    """OSError at once when HOST:PORT takes no connection (Ray itself would retry for a minute)."""
    if address is None or address == "auto" or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    socket.create_connection((host, int(port)), timeout=timeout).close()


BACKENDS = {"local": LocalBackend, "ray": RayBackend}
