#!/usr/bin/env python3
"""A sweep against the same trials run one after another: wall time and peak memory.

The trials: configs/digits.yaml with 4 learning rates x 4 seeds (16 trainings). Measured, each in its
own process as a user would run it:
  sequential  16 `bpcli train configs/digits.yaml --set optimizer.lr=… --set seed=…` one after another
              (BLAS on every core, as `bpcli train` runs by default);
  sweep       one `bpcli sweep SPEC --workers W` over the same 16 trials (one process per worker,
              cores // W BLAS threads each);
  at once     the 16 `bpcli train` processes started together, one BLAS thread each: no pool and
              no queue, the figure a sweep on as many cores as trials can at best reach.
Peak memory is the largest resident set of a process tree, summed over its processes (the sweep's
driver plus workers), sampled every 20 ms from /proc; the single-run peak also comes from wait4.

Targets (issue 13): on 2 cores the sweep with --workers 2 takes at most 0.6x the sequential wall
time; its peak memory stays under workers x (one run's peak) + 100 MB; on a host with a core per
trial (--workers 16 on 16 cores) the sweep takes at most 1.2x the wall time of "at once".

    python benchmarks/bench_sweep.py                  # 16 trials, --workers 2 (about a minute)
    python benchmarks/bench_sweep.py --workers 16     # on a 16-core host (also: at once)
    python benchmarks/bench_sweep.py --smoke          # 2 short trials: checks that it runs (seconds)
    python benchmarks/bench_sweep.py --json           # one JSON object on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from bpcli.sweeps.worker import blas_env

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "digits.yaml"
LEARNING_RATES = [0.0005, 0.001, 0.002, 0.004]
SEEDS = [0, 1, 2, 3]
TIME_FACTOR, MEMORY_SLACK_MB, AT_ONCE_FACTOR = 0.6, 100, 1.2


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- measuring a process tree


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants now (Linux /proc); 0 once it is gone."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as status:
                line = next(line for line in status if line.startswith("VmRSS:"))
            total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    todo += [int(child) for child in children.read().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def measure(command: list[str]) -> dict:
    """Run `command`; its wall time, the peak summed RSS of its process tree, its own max RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(process.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{error}")
    return {"wall_s": wall, "tree_peak_mb": peak[0] / 2**20, "maxrss_mb": usage.ru_maxrss / 1024}


# ---------------------------------------------------------------------------- the two ways


def trials(smoke: bool) -> list[tuple[float, int]]:
    return [(0.001, 0), (0.002, 0)] if smoke else [(lr, s) for lr in LEARNING_RATES for s in SEEDS]


def bpcli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bpcli", *args]


def train_command(out: Path, lr: float, seed: int, epochs: int) -> list[str]:
    overrides = [f"optimizer.lr={lr}", f"seed={seed}", f"training.epochs={epochs}"]
    sets = [arg for o in overrides for arg in ("--set", o)]
    return bpcli("train", str(CONFIG), *sets, "--out", str(out), "--quiet")


def sequential(folder: Path, chosen: list, epochs: int) -> dict:
    """Each trial as its own `bpcli train` process, one after another."""
    runs = [
        measure(train_command(folder / f"seq-{index:02d}", lr, seed, epochs))
        for index, (lr, seed) in enumerate(chosen)
    ]
    return {
        "wall_s": sum(r["wall_s"] for r in runs),
        "one_run_peak_mb": max(r["maxrss_mb"] for r in runs),
        "runs": len(runs),
    }


def at_once(folder: Path, chosen: list, epochs: int) -> dict:
    """Every trial as its own `bpcli train` process, all started together, one BLAS thread each."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            train_command(folder / f"once-{index:02d}", lr, seed, epochs),
            env={**os.environ, **blas_env(1)},  # as a sweep's workers get them
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for index, (lr, seed) in enumerate(chosen)
    ]
    codes = [process.wait() for process in processes]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"bpcli train started together: exit codes {codes}")
    return {"wall_s": wall, "runs": len(processes)}


def sweep(folder: Path, chosen: list, epochs: int, workers: int) -> dict:
    """The same trials as one `bpcli sweep --workers W`."""
    spec = {
        "base": str(CONFIG),
        "set": {"training.epochs": epochs},
        "grid": {"optimizer.lr": sorted({lr for lr, _ in chosen})},
        "seeds": sorted({seed for _, seed in chosen}),
        "metric": "val_accuracy",
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    out = folder / "sweep"
    result = measure(bpcli("sweep", str(path), "--workers", str(workers), "--out", str(out), "-q"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["counts"]["done"] == len(chosen), summary["counts"]
    return {**result, "trials": summary["trials"], "best": summary["best"]["params"]}


def run(workers: int, smoke: bool) -> dict:
    chosen, epochs = trials(smoke), 2 if smoke else 30
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        log(f"{len(chosen)} trials of {CONFIG.name}, {epochs} epochs: one after another ...")
        one_by_one = sequential(Path(tmp), chosen, epochs)
        log("... all started at once, one BLAS thread each")
        all_at_once = at_once(Path(tmp), chosen, epochs)
        log(f"... and as bpcli sweep --workers {workers}")
        together = sweep(Path(tmp), chosen, epochs, workers)
    ratio = together["wall_s"] / one_by_one["wall_s"]
    at_once_ratio = together["wall_s"] / all_at_once["wall_s"]
    memory_bound = workers * one_by_one["one_run_peak_mb"] + MEMORY_SLACK_MB
    return {
        "trials": len(chosen),
        "epochs": epochs,
        "workers": workers,
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "sequential": one_by_one,
        "sweep": together,
        "at_once": all_at_once,
        "time_ratio": ratio,
        "at_once_ratio": at_once_ratio,
        "at_once_target": AT_ONCE_FACTOR,
        "at_once_holds": at_once_ratio <= AT_ONCE_FACTOR,
        "time_target": TIME_FACTOR,
        "time_holds": ratio <= TIME_FACTOR,
        "memory_bound_mb": memory_bound,
        "memory_holds": together["tree_peak_mb"] <= memory_bound,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
    }


def report(result: dict) -> str:
    seq, swp, once = result["sequential"], result["sweep"], result["at_once"]
    holds = {True: "yes", False: "**no**"}
    return "\n".join(
        [
            f"{result['trials']} trials of digits ({result['epochs']} epochs), "
            f"{result['cores']} cores, sweep --workers {result['workers']}",
            f"sequential bpcli train: {seq['wall_s']:.2f} s; one run's peak RSS "
            f"{seq['one_run_peak_mb']:.0f} MB",
            f"bpcli sweep:            {swp['wall_s']:.2f} s (x{result['time_ratio']:.2f} of "
            f"sequential; target <= x{result['time_target']}: {holds[result['time_holds']]})",
            f"all at once, 1 thread:  {once['wall_s']:.2f} s (sweep x{result['at_once_ratio']:.2f} "
            f"of it; target <= x{result['at_once_target']} with a core per trial: "
            f"{holds[result['at_once_holds']]})",
            f"sweep peak RSS (driver + workers): {swp['tree_peak_mb']:.0f} MB (bound "
            f"{result['memory_bound_mb']:.0f} MB: {holds[result['memory_holds']]})",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="sweep workers (default 2)")
    parser.add_argument("--smoke", action="store_true", help="2 trials of 2 epochs: seconds")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    result = run(args.workers, args.smoke)
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
