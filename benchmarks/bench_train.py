#!/usr/bin/env python3
"""Training speed of bpcli against the bare-GEMM floor (and PyTorch, when installed), per thread count.

For each workload (60000 x 784 random float32 samples, 10 classes, softmax cross-entropy, plain SGD):
  W1  784-256-128-10 relu, batch 128      W2  the same, batch 32      W3  784-1024-1024-10, batch 256
and each BLAS thread count of --threads (threadpoolctl limits NumPy's and SciPy's BLAS alike), it
times seconds per epoch of
  bpcli   `bpcli.train.setup` + `EpochRunner`: the code path of `bpcli train` (diagnostics on, as by
          default), with the data read from an .npz file (no validation/test split, no
          standardisation); `bpcli-nodiag` is the same with diagnostics off;
  floor   only the GEMMs of forward and backward (Z = A·W, dW = Aᵀ·dZ, dA = dZ·Wᵀ) with NumPy into
          preallocated buffers, on contiguous slices of the same data: nothing else;
  torch   PyTorch CPU (Linear/ReLU, CrossEntropyLoss, optim.SGD), torch.set_num_threads(same count),
          in its own process;
  proto   the fused-layout prototype of ../shared/bench-peers/proto_fused.py (a standalone step, not
          bpcli; drops the last partial batch), as a reference line, when that file is present.
After one warm-up epoch each, the timed epochs go round-robin (bpcli, floor, torch, ...) so a slow
spell of a noisy host hits all alike; ratios are to the floor of the same run and thread count.
It also measures the peak RSS of a real `bpcli train` process on W1 data with the default
validation/test splits and standardisation, and the wall time of `bpcli --version` and `--help`.

    python benchmarks/bench_train.py                       # everything, a readable table (~5 min)
    python benchmarks/bench_train.py --threads 1,2 --json  # one JSON object on stdout
    python benchmarks/bench_train.py --workloads W1 --epochs 3 --no-torch --skip memory,startup
    python benchmarks/bench_train.py --breakdown --workloads W1   # where bpcli's time goes (cProfile)
    python benchmarks/bench_train.py --smoke               # every part on tiny data, a few seconds
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
TARGETS = {"W1": 1.10, "W2": 1.40, "W3": 1.05}
"""bpcli / floor, seconds per epoch, on 2 cores (issue 16)."""
PEERS = Path(__file__).resolve().parents[1].parent / "shared" / "bench-peers"
SMOKE_SAMPLES = 256
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


def config_document(source: Path, workload: str, epochs: int, splits: bool = False) -> dict:
    """The config of a workload, as a user would write it in YAML; without `splits` every row
    trains and nothing is standardised, with them the data section keeps bpcli's defaults."""
    w = WORKLOADS[workload]
    data = {"source": str(source)}
    if not splits:
        data |= {"validation_split": 0.0, "test_split": 0.0, "standardize": False}
    return {
        "name": f"bench-{workload}",
        "seed": SEED,
        "data": data,
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


def proto_epoch(peers: Path, X: np.ndarray, y: np.ndarray, workload: str):
    """One epoch of the fused-layout prototype (`peers`/proto_fused.py), or None when it is absent."""
    import importlib.util

    path = peers / "proto_fused.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("proto_fused", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    w = WORKLOADS[workload]
    return module.Fused(X, y, [FEATURES, *w["hidden"], CLASSES], w["batch"]).epoch


def timed(run_epoch) -> float:
    started = time.perf_counter()
    run_epoch()
    return time.perf_counter() - started


def contenders_of(source: Path, workload: str, threads: int, args) -> tuple[dict, dict]:
    """The epoch functions to time, by name, and what the result records about them."""
    bpcli_run, X = bpcli_epoch(source, workload)
    plain_run, _ = bpcli_epoch(source, workload, diagnostics=False)
    contenders = {
        "bpcli": lambda: timed(bpcli_run),
        "bpcli-nodiag": lambda: timed(plain_run),
        "floor": lambda: timed(floor_epoch(X, workload)),
    }
    notes: dict = {}
    if not args.no_torch:
        try:
            contenders["torch"] = TorchPeer(source, workload, threads)
            notes["torch_version"] = contenders["torch"].version
        except ImportError as error:
            notes["torch"] = f"unavailable: {error}"
    if not args.no_proto:
        with np.load(source) as data:
            proto = proto_epoch(args.peers, X, data["y"], workload)
        if proto is not None:
            contenders["proto"] = lambda: timed(proto)
    return contenders, notes


def bench_workload(source: Path, workload: str, threads: int, args) -> dict:
    """Seconds per epoch of each contender at `threads` BLAS threads, timed round-robin after one
    warm-up epoch each."""
    contenders, notes = contenders_of(source, workload, threads, args)
    result: dict = {"workload": workload, "threads": threads, **WORKLOADS[workload], **notes}
    try:
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for name, run in contenders.items():
            log(f"  {workload} t{threads} warm-up {name}")
            run()
        for epoch in range(args.epochs):
            for name, run in contenders.items():
                time.sleep(args.settle)
                times[name].append(run())
            log(f"  {workload} t{threads} epoch {epoch + 1}/{args.epochs}: " + summary_line(times))
    finally:
        if isinstance(contenders.get("torch"), TorchPeer):
            contenders["torch"].close()
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
    result["target"] = TARGETS[workload] if threads == 2 else None
    result["target_holds"] = (
        result["target"] is None or result["bpcli"]["x_floor"] <= TARGETS[workload]
    )
    if isinstance(result.get("torch"), dict):
        result["beats_torch"] = result["bpcli"]["median_s"] <= result["torch"]["median_s"]
    return result


def breakdown(source: Path, workload: str, top: int = 12) -> dict:
    """Where a bpcli epoch spends its time, per batch: the epoch's time without its BLAS calls
    (gemm and axpy replaced by no-ops: what is left is NumPy's elementwise work and Python), and
    cProfile's own time per function, top `top` (cProfile adds its own cost to every call, so
    small functions look dearer than they are)."""
    import cProfile
    import pstats

    import bpcli.core.network
    import bpcli.core.optimizers

    run_epoch, X = bpcli_epoch(source, workload)
    batches = -(-len(X) // WORKLOADS[workload]["batch"])
    run_epoch()
    profile = cProfile.Profile()
    profile.runcall(run_epoch)
    stats = sorted(pstats.Stats(profile).stats.items(), key=lambda item: -item[1][2])[:top]
    real = (bpcli.core.network.gemm, bpcli.core.optimizers.axpy)
    bpcli.core.network.gemm = lambda A, B, C, alpha=1.0, beta=0.0: C
    bpcli.core.optimizers.axpy = lambda a, x, y: y
    try:
        without_blas = min(timed(run_epoch) for _ in range(3))
    finally:
        bpcli.core.network.gemm, bpcli.core.optimizers.axpy = real
    return {
        "batches": batches,
        "without_blas_us_per_batch": 1e6 * without_blas / batches,
        "with_blas_us_per_batch": 1e6 * min(timed(run_epoch) for _ in range(3)) / batches,
        "profile": [
            {
                "function": f"{Path(key[0]).name}:{key[1]} {key[2]}",
                "us_per_batch": 1e6 * value[2] / batches,
                "calls_per_batch": value[1] / batches,
            }
            for key, value in stats
        ],
    }


def summary_line(times: dict) -> str:
    return "  ".join(f"{name} {series[-1]:.3f}s" for name, series in times.items())


# ---------------------------------------------------------------------------- processes


def bpcli_command() -> list[str]:
    """The installed `bpcli` script next to this Python, or `python -m bpcli`."""
    script = Path(sys.executable).with_name("bpcli")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bpcli"]


def peak_rss(folder: Path, source: Path, epochs: int) -> dict:
    """Peak RSS of a real `bpcli train` process on the W1 data with the default validation and test
    splits and standardisation (os.wait4 gives the child's rusage)."""
    import yaml

    config = folder / "w1.yaml"
    config.write_text(yaml.safe_dump(config_document(source, "W1", epochs, splits=True)))
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


def startup_times(runs: int) -> dict:
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
            "target_holds": median <= STARTUP_TARGET_S,
            "runs": runs,
        }
    return results


# ---------------------------------------------------------------------------- context


def blas_libraries() -> list[str]:
    """The BLAS libraries loaded in this process, with their thread counts (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    return [
        f"{Path(lib['filepath']).name.split('-')[0]} {lib.get('version')} "
        f"({lib.get('internal_api')}, {lib.get('architecture')}, {lib['num_threads']} threads)"
        for lib in threadpool_info()
        if lib["user_api"] == "blas"
    ]


def cpu_model() -> str:
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(
            line.split(":", 1)[1].strip() for line in output.splitlines() if "Model name" in line
        )
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


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
    info["cpu"] = cpu_model()
    import bpcli.core.blas  # noqa: F401 - loads the engine's BLAS (SciPy's), so it is listed

    info["blas_loaded"] = blas_libraries()
    try:
        import bpcli

        info["bpcli"] = bpcli.__version__
    except ImportError:
        pass
    return info


# ---------------------------------------------------------------------------- report


def cell(value, spec: str, width: int) -> str:
    return f"{value:{width}{spec}}" if value is not None else f"{'-':>{width}}"


def print_report(result: dict) -> None:
    s = result["system"]
    print(
        f"{s['date']}  {s['cpu']} ({s['cpus']} CPUs)  Python {s['python']}  numpy {s['numpy']} "
        f"({s['blas']})  {result['epochs']} timed epochs after 1 warm-up, {result['samples']} rows"
    )
    print("BLAS loaded: " + "; ".join(s["blas_loaded"]))
    header = (
        f"{'workload':<32}{'thr':>4}{'floor s':>9}{'bpcli s':>9}{'x floor':>8}{'(best)':>8}"
        f"{'diag':>7}{'torch s':>9}{'x floor':>8}{'proto x':>8}{'target':>7}  ok"
    )
    print(header)
    print("-" * len(header))
    for w in result.get("workloads", []):
        arch = "-".join(map(str, [FEATURES, *w["hidden"], CLASSES]))
        torch = w["torch"] if isinstance(w.get("torch"), dict) else {}
        proto = w.get("proto", {})
        verdicts = [] if w["target"] is None else ["yes" if w["target_holds"] else "NO"]
        if "beats_torch" in w:
            verdicts.append("< torch" if w["beats_torch"] else "> TORCH")
        print(
            f"{w['workload'] + ' ' + arch + ' b' + str(w['batch']):<32}{w['threads']:>4}"
            f"{w['floor']['median_s']:>9.3f}{w['bpcli']['median_s']:>9.3f}"
            f"{w['bpcli']['x_floor']:>8.2f}{w['bpcli']['x_floor_best']:>8.2f}"
            f"{w['diagnostics_overhead']:>+7.1%}{cell(torch.get('median_s'), '.3f', 9)}"
            f"{cell(torch.get('x_floor'), '.2f', 8)}{cell(proto.get('x_floor'), '.2f', 8)}"
            f"{cell(w['target'], '.2f', 7)}  {' '.join(verdicts)}"
        )
    print(
        "(x floor: median epoch over the floor's median at the same thread count; (best): best epoch"
        " over\n the floor's best; diag: bpcli with diagnostics on over off, paired by round; proto:"
        " the fused\n prototype of shared/bench-peers; targets apply on 2 cores)"
    )
    if "memory" in result:
        m = result["memory"]
        print(
            f"peak RSS of `bpcli train` (W1 data, default splits and standardisation, "
            f"{m['epochs']} epochs): {m['peak_rss_mb']:.0f} MB = {m['ratio_to_data']:.2f} x data "
            f"({m['data_mb']:.0f} MB); limit {m['limit_mb']:.0f} MB  "
            f"{'yes' if m['target_holds'] else 'NO'}"
        )
    for flag, t in result.get("startup", {}).items():
        print(
            f"bpcli {flag}: {t['median_s']:.3f} s (median of {t['runs']}, best {t['min_s']:.3f} s);"
            f" target {STARTUP_TARGET_S} s  {'yes' if t['target_holds'] else 'NO'}"
        )
    for workload, b in result.get("breakdown", {}).items():
        print(
            f"{workload}: {b['with_blas_us_per_batch']:.0f} us per batch, of which "
            f"{b['without_blas_us_per_batch']:.0f} us outside BLAS (elementwise NumPy and Python; "
            f"1 thread for NumPy whatever --threads); cProfile own time, per batch:"
        )
        for row in b["profile"]:
            print(
                f"  {row['us_per_batch']:9.1f} us  {row['calls_per_batch']:6.1f} calls  "
                f"{row['function']}"
            )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--workloads", default="W1,W2,W3", help="comma list of W1, W2, W3 (default all)"
    )
    parser.add_argument(
        "--threads",
        default=str(os.cpu_count() or 1),
        help="comma list of BLAS thread counts (default: the CPU count), e.g. 1,2,4,8,16",
    )
    parser.add_argument(
        "--epochs", type=int, default=5, help="timed epochs after one warm-up (default 5, min 3)"
    )
    parser.add_argument("--samples", type=int, default=SAMPLES, help="rows of random data")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--no-proto", action="store_true", help="skip the fused prototype")
    parser.add_argument(
        "--peers", type=Path, default=PEERS, help=f"folder of proto_fused.py (default {PEERS})"
    )
    parser.add_argument(
        "--skip", default="", help="comma list of parts to skip: speed, memory, startup"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also profile one bpcli epoch per workload"
    )
    parser.add_argument(
        "--settle", type=float, default=0.2, help="seconds of sleep before each timed epoch"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"every part on {SMOKE_SAMPLES} rows, 3 epochs, no torch or prototype (seconds)",
    )
    args = parser.parse_args(argv)
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    try:
        args.threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        parser.error(f"--threads: {args.threads!r} is not a comma list of whole numbers")
    if not args.threads or min(args.threads) < 1:
        parser.error("--threads: give thread counts of at least 1")
    if unknown := [w for w in args.workloads if w not in WORKLOADS]:
        parser.error(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOADS)}")
    if unknown := sorted(args.skip - {"speed", "memory", "startup"}):
        parser.error(f"unknown --skip part(s) {unknown}")
    if args.epochs < 3:
        parser.error("--epochs must be at least 3 (the result is a median)")
    if args.smoke:
        args.samples, args.epochs, args.settle = SMOKE_SAMPLES, 3, 0.0
        args.no_torch = args.no_proto = True
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from threadpoolctl import threadpool_limits

    result: dict = {"system": system_info(), "epochs": args.epochs, "samples": args.samples}
    with tempfile.TemporaryDirectory(prefix="bpcli-bench-") as tmp:
        folder = Path(tmp)
        source = write_dataset(folder, args.samples)
        if "memory" not in args.skip:
            log("peak RSS of bpcli train (W1, default splits)")
            result["memory"] = peak_rss(folder, source, epochs=1 if args.smoke else 2)
        if "startup" not in args.skip:
            log("bpcli --version / --help")
            result["startup"] = startup_times(runs=1 if args.smoke else 5)
        if "speed" not in args.skip:
            result["workloads"] = []
            for threads in args.threads:
                with threadpool_limits(limits=threads):
                    result["workloads"] += [
                        bench_workload(source, w, threads, args) for w in args.workloads
                    ]
        if args.breakdown:
            result["breakdown"] = {w: breakdown(source, w) for w in args.workloads}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
