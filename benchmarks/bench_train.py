#!/usr/bin/env python3
"""Training speed of bpcli against the bare-GEMM floor (and PyTorch, when installed).

For each workload (60000 x 784 random float32 samples, 10 classes, softmax cross-entropy, plain SGD):
  W1  784-256-128-10 relu, batch 128      W2  the same, batch 32      W3  784-1024-1024-10, batch 256
it times seconds per epoch of
  bpcli   `training.experiment.setup` + one `training.loop.EpochRunner` epoch: what `bpcli train`
          runs per epoch (diagnostics on, as by default; also timed off),
          with the data read from an .npz file (no validation/test split, no standardisation);
  floor   only the GEMMs of forward and backward (Z = A·W, dW = Aᵀ·dZ, dA = dZ·Wᵀ) into
          preallocated buffers, on contiguous slices of the same data: nothing else;
  torch   PyTorch CPU (Linear/ReLU, CrossEntropyLoss, optim.SGD), same threads, in its own process.
After one warm-up epoch each, the timed epochs go round-robin (bpcli, floor, torch, bpcli, ...) so
a slow spell of a noisy host hits all alike; ratios are to the floor of the same run.
It also measures the peak RSS of a real `bpcli train` process on W1 data, and the wall time of
`bpcli --version` and `bpcli --help`.

    python benchmarks/bench_train.py                 # everything, a readable table (~3-5 min)
    python benchmarks/bench_train.py --json          # one JSON object on stdout
    python benchmarks/bench_train.py --workloads W1 --epochs 3 --no-torch --skip memory,startup
    python benchmarks/bench_train.py --smoke         # W1 on 256 rows, no torch: checks that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLES, FEATURES, CLASSES, LR, SEED = 60000, 784, 10, 0.01, 0

WORKLOADS = {
    "W1": {"hidden": [256, 128], "batch": 128},
    "W2": {"hidden": [256, 128], "batch": 32},
    "W3": {"hidden": [1024, 1024], "batch": 256},
}
TARGETS = {"W1": 1.10, "W2": 1.50, "W3": 1.05}
"""bpcli / floor, seconds per epoch (issue 4)."""
STARTUP_TARGET_S = 0.15
RSS_FACTOR, RSS_SLACK_MB = 1.3, 150


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- data


def write_dataset(folder: Path, samples: int) -> Path:
    """Seeded random features and labels saved as an uncompressed .npz (X float32, y int64)."""
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((samples, FEATURES), dtype=np.float32)
    y = rng.integers(0, CLASSES, size=samples)
    path = folder / f"random-{samples}.npz"
    np.savez(path, X=X, y=y)
    return path


def config_document(source: Path, workload: str, epochs: int) -> dict:
    """The config of a workload, as a user would write it in YAML."""
    w = WORKLOADS[workload]
    return {
        "name": f"bench-{workload}",
        "seed": SEED,
        "data": {
            "source": str(source),
            "validation_split": 0.0,
            "test_split": 0.0,
            "standardize": False,
        },
        "model": {"hidden": w["hidden"], "activation": "relu", "init": "he_normal"},
        "loss": "cross_entropy",
        "optimizer": {"name": "sgd", "lr": LR},
        "training": {"epochs": epochs, "batch_size": w["batch"], "dtype": "float32"},
    }


# ---------------------------------------------------------------------------- contenders
# Each is built once and returns run_epoch(); timing is done by the caller.


def bpcli_epoch(source: Path, workload: str, diagnostics: bool = True):
    """One epoch of bpcli's own loop: `train.EpochRunner`, which `fit` (and so `bpcli train`) runs.

    With `diagnostics` (bpcli's default, training.diagnostics: true) the gradient-flow observer of
    `bpcli train` watches every batch, as it does in a real run.
    """
    from bpcli.config import validate
    from bpcli.training.diagnostics import Diagnostics
    from bpcli.training.experiment import setup
    from bpcli.training.loop import EpochRunner

    document = config_document(source, workload, epochs=1)
    document["training"]["diagnostics"] = diagnostics
    experiment = setup(validate(document))
    observer = Diagnostics(experiment.network, lambda *warning: None) if diagnostics else None
    run_epoch = EpochRunner(experiment, observer=observer)

    def one_epoch():
        record = run_epoch(0)
        if observer is not None:
            observer.end_epoch(record)
        return record

    return one_epoch, experiment.data.splits["train"].X


def floor_epoch(X: np.ndarray, workload: str):
    """Only the GEMMs forward and backward need, into preallocated buffers (no bias, ReLU, update)."""
    w = WORKLOADS[workload]
    widths, batch = [FEATURES, *w["hidden"], CLASSES], w["batch"]
    rng = np.random.default_rng(SEED + 1)
    Ws = [
        rng.standard_normal((i, o), dtype=np.float32) * np.float32(np.sqrt(2 / i))
        for i, o in zip(widths[:-1], widths[1:], strict=True)
    ]
    Z = [np.empty((batch, W.shape[1]), np.float32) for W in Ws]
    D = [np.empty((batch, W.shape[1]), np.float32) for W in Ws]
    D[-1][...] = 0.01 * rng.standard_normal(D[-1].shape, dtype=np.float32)
    G = [np.empty_like(W) for W in Ws]
    n, layers = X.shape[0], len(Ws)

    def run_epoch():
        for start in range(0, n, batch):
            rows = min(batch, n - start)
            A = X[start : start + rows]
            for layer in range(layers):
                A = np.matmul(A, Ws[layer], out=Z[layer][:rows])
            for layer in range(layers - 1, -1, -1):
                A_in = X[start : start + rows] if layer == 0 else Z[layer - 1][:rows]
                np.matmul(A_in.T, D[layer][:rows], out=G[layer])
                if layer > 0:
                    np.matmul(D[layer][:rows], Ws[layer].T, out=D[layer - 1][:rows])

    return run_epoch


def _torch_worker(conn, source: str, workload: str, threads: int) -> None:
    """Runs in a fresh process: PyTorch's libraries never share bpcli's heap or threads."""
    try:
        import torch
    except ImportError as error:
        conn.send({"error": str(error)})
        return
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    with np.load(source) as data:
        X, y = torch.from_numpy(data["X"]), torch.from_numpy(data["y"])
    w = WORKLOADS[workload]
    widths, batch = [FEATURES, *w["hidden"], CLASSES], w["batch"]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    conn.send({"ready": torch.__version__})
    while conn.recv() == "epoch":
        started = time.perf_counter()
        order = torch.randperm(X.shape[0], generator=generator)
        for start in range(0, X.shape[0], batch):
            rows = order[start : start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[rows]), y[rows])
            loss.backward()
            optimizer.step()
        conn.send(time.perf_counter() - started)


class TorchPeer:
    """A PyTorch training loop in a worker process, driven one epoch at a time over a pipe."""

    def __init__(self, source: Path, workload: str, threads: int):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_torch_worker, args=(child, str(source), workload, threads), daemon=True
        )
        self.process.start()
        child.close()
        message = self.conn.recv()
        if "error" in message:
            self.close()
            raise ImportError(message["error"])
        self.version = message["ready"]

    def __call__(self) -> float:
        self.conn.send("epoch")
        return self.conn.recv()

    def close(self) -> None:
        if self.process.is_alive():
            self.conn.send("stop")
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def timed(run_epoch) -> float:
    started = time.perf_counter()
    run_epoch()
    return time.perf_counter() - started


def bench_workload(source: Path, workload: str, epochs: int, use_torch: bool, settle: float):
    """Seconds per epoch of each contender, timed round-robin after one warm-up epoch each."""
    bpcli_run, X = bpcli_epoch(source, workload)
    plain_run, _ = bpcli_epoch(source, workload, diagnostics=False)
    floor_run = floor_epoch(X, workload)
    contenders = {
        "bpcli": lambda: timed(bpcli_run),
        "bpcli-nodiag": lambda: timed(plain_run),
        "floor": lambda: timed(floor_run),
    }
    torch_peer = None
    result: dict = {"workload": workload, **WORKLOADS[workload]}
    if use_torch:
        try:
            torch_peer = TorchPeer(source, workload, threads=os.cpu_count() or 1)
            contenders["torch"] = torch_peer
            result["torch_version"] = torch_peer.version
        except ImportError as error:
            result["torch"] = f"unavailable: {error}"
    try:
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for name, run in contenders.items():
            log(f"  {workload} warm-up {name}")
            run()
        for epoch in range(epochs):
            for name, run in contenders.items():
                time.sleep(settle)
                times[name].append(run())
            log(f"  {workload} epoch {epoch + 1}/{epochs}: " + summary_line(times, -1))
    finally:
        if torch_peer:
            torch_peer.close()
    floor = times["floor"]
    for name, series in times.items():
        result[name] = {
            "median_s": statistics.median(series),
            "min_s": min(series),
            "epochs_s": [round(t, 4) for t in series],
            "x_floor": statistics.median(series) / statistics.median(floor),
            "x_floor_best": min(series) / min(floor),
            "x_floor_paired": statistics.median(t / f for t, f in zip(series, floor, strict=True)),
        }
    result["diagnostics_overhead"] = (
        result["bpcli"]["x_floor_paired"] / result["bpcli-nodiag"]["x_floor_paired"] - 1
    )
    result["target"] = TARGETS[workload]
    result["target_holds"] = result["bpcli"]["x_floor"] <= TARGETS[workload]
    return result


def summary_line(times: dict, index: int) -> str:
    return "  ".join(f"{name} {series[index]:.3f}s" for name, series in times.items())


# ---------------------------------------------------------------------------- processes


def bpcli_command() -> list[str]:
    """The installed `bpcli` script next to this Python, or `python -m bpcli`."""
    script = Path(sys.executable).with_name("bpcli")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bpcli"]


def peak_rss(folder: Path, source: Path, epochs: int) -> dict:
    """Peak RSS of a real `bpcli train` process on the W1 config (os.wait4 gives the child's rusage)."""
    import yaml

    config = folder / "w1.yaml"
    config.write_text(yaml.safe_dump(config_document(source, "W1", epochs)))
    command = [*bpcli_command(), "train", str(config), "--quiet", "--force"]
    command += ["--out", str(folder / "run")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace")
    process.stdout.close()
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"bpcli train failed ({process.returncode}): {stderr}")
    with np.load(source) as data:
        data_bytes = data["X"].nbytes + data["y"].nbytes
    peak = usage.ru_maxrss * 1024  # Linux reports KiB
    limit = RSS_FACTOR * data_bytes + RSS_SLACK_MB * 2**20
    return {
        "peak_rss_mb": peak / 2**20,
        "data_mb": data_bytes / 2**20,
        "ratio_to_data": peak / data_bytes,
        "limit_mb": limit / 2**20,
        "target_holds": peak <= limit,
        "epochs": epochs,
    }


def startup_times(runs: int = 5) -> dict:
    """Median wall time, process start to exit, of `bpcli --version` and `bpcli --help`."""
    results = {}
    for flag in ("--version", "--help"):
        command = [*bpcli_command(), flag]
        subprocess.run(command, capture_output=True, check=True)  # warm the file cache
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        results[flag] = {
            "median_s": median,
            "min_s": min(times),
            "runs": runs,
            "target_holds": median <= STARTUP_TARGET_S,
        }
    return results


# ---------------------------------------------------------------------------- context


def system_info() -> dict:
    info = {
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
    }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - older numpy: the BLAS name is optional context
        info["blas"] = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            info["cpu"] = next(
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            )
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or "unknown"
    try:
        import bpcli

        info["bpcli"] = bpcli.__version__
    except ImportError:
        pass
    return info


# ---------------------------------------------------------------------------- report


def print_report(result: dict) -> None:
    s = result["system"]
    print(
        f"{s['date']}  {s['cpu']} ({s['cpus']} CPUs)  Python {s['python']}  "
        f"numpy {s['numpy']} ({s['blas']})  {result['epochs']} timed epochs after 1 warm-up"
    )
    header = (
        f"{'workload':<34}{'floor s':>9}{'bpcli s':>9}{'x floor':>9}{'(best)':>8}{'diag':>7}"
        f"{'torch s':>9}{'x floor':>9}{'target':>8}  ok"
    )
    print(header)
    print("-" * len(header))
    for w in result["workloads"]:
        arch = "-".join(map(str, [FEATURES, *w["hidden"], CLASSES]))
        label = f"{w['workload']} {arch} batch {w['batch']}"
        torch = w.get("torch")
        torch_cells = (
            f"{torch['median_s']:>9.3f}{torch['x_floor']:>9.2f}"
            if isinstance(torch, dict)
            else f"{'-':>9}{'-':>9}"
        )
        print(
            f"{label:<34}{w['floor']['median_s']:>9.3f}{w['bpcli']['median_s']:>9.3f}"
            f"{w['bpcli']['x_floor']:>9.2f}{w['bpcli']['x_floor_best']:>8.2f}"
            f"{w['diagnostics_overhead']:>+7.1%}{torch_cells}{w['target']:>8.2f}  {'yes' if w['target_holds'] else 'NO'}"
        )
    print(
        "(bpcli: the loop of `bpcli train`, diagnostics on as by default; diag: its time with "
        "diagnostics on\n over off, paired by round; (best): best epoch over the floor's best)"
    )
    if "memory" in result:
        m = result["memory"]
        print(
            f"peak RSS of `bpcli train` (W1, {m['epochs']} epochs): {m['peak_rss_mb']:.0f} MB = "
            f"{m['ratio_to_data']:.2f} x data ({m['data_mb']:.0f} MB); limit {m['limit_mb']:.0f} MB"
            f"  {'yes' if m['target_holds'] else 'NO'}"
        )
    for flag, t in result.get("startup", {}).items():
        print(
            f"bpcli {flag}: {t['median_s']:.3f} s (median of {t['runs']}, best {t['min_s']:.3f} s); "
            f"target {STARTUP_TARGET_S} s  {'yes' if t['target_holds'] else 'NO'}"
        )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--workloads", default="W1,W2,W3", help="comma list of W1, W2, W3 (default all)"
    )
    parser.add_argument(
        "--epochs", type=int, default=5, help="timed epochs after one warm-up (default 5, min 3)"
    )
    parser.add_argument("--samples", type=int, default=SAMPLES, help="rows of random data")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument(
        "--skip", default="", help="comma list of parts to skip: speed, memory, startup"
    )
    parser.add_argument(
        "--settle", type=float, default=0.2, help="seconds of sleep before each timed epoch"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="W1 on 256 rows, 3 epochs, no torch: checks that it runs",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.workloads, args.samples, args.epochs, args.no_torch, args.settle = (
            "W1",
            256,
            3,
            True,
            0,
        )
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if unknown := [w for w in args.workloads if w not in WORKLOADS]:
        parser.error(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOADS)}")
    if unknown := sorted(args.skip - {"speed", "memory", "startup"}):
        parser.error(f"unknown --skip part(s) {unknown}")
    if args.epochs < 3:
        parser.error("--epochs must be at least 3 (the result is a median)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    result: dict = {"system": system_info(), "epochs": args.epochs, "samples": args.samples}
    with tempfile.TemporaryDirectory(prefix="bpcli-bench-") as tmp:
        folder = Path(tmp)
        source = write_dataset(folder, args.samples)
        if "memory" not in args.skip:
            log("peak RSS of bpcli train (W1)")
            result["memory"] = peak_rss(folder, source, epochs=2)
        if "startup" not in args.skip:
            log("bpcli --version / --help")
            result["startup"] = startup_times(runs=1 if args.smoke else 5)
        if "speed" not in args.skip:
            result["workloads"] = [
                bench_workload(source, w, args.epochs, not args.no_torch, args.settle)
                for w in args.workloads
            ]
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        result.setdefault("workloads", [])
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
