"""How much training time the backward-pass diagnostics cost.

    python benchmarks/diagnostics_overhead.py configs/digits.yaml [key.path=value ...]
    python benchmarks/diagnostics_overhead.py --smoke     # one short round on configs/xor.yaml

Prints (a) the best-of-N wall time of `fit` with and without the observer, interleaved, and (b) the
median share of the training time spent inside the observer's methods. On a shared, noisy machine
(b) is the steadier figure. The observer sees the sampled batches only (see training.loop), so (b)
is all it costs: the plain steps of those batches are taken with diagnostics off too.
"""

from __future__ import annotations

import argparse
import time

from bpcli.config import load_config
from bpcli.training.diagnostics import Diagnostics
from bpcli.training.experiment import setup
from bpcli.training.loop import fit


class Timed(Diagnostics):
    spent = 0.0

    def after_backward(self, network):
        started = time.perf_counter()
        super().after_backward(network)
        Timed.spent += time.perf_counter() - started

    def after_step(self, network):
        started = time.perf_counter()
        super().after_step(network)
        Timed.spent += time.perf_counter() - started

    def end_epoch(self, record):
        started = time.perf_counter()
        super().end_epoch(record)
        Timed.spent += time.perf_counter() - started


def timed_fit(path: str, overrides: list[str], observer_class) -> float:
    experiment = setup(load_config(path, overrides))
    observer = observer_class(experiment.network) if observer_class else None
    started = time.perf_counter()
    fit(experiment, observer=observer)
    return time.perf_counter() - started


def main(path: str, overrides: list[str], repeats: int = 7) -> None:
    off, on, inside = [], [], []
    for _ in range(repeats):
        off.append(timed_fit(path, overrides, None))
        on.append(timed_fit(path, overrides, Diagnostics))
        Timed.spent = 0.0
        total = timed_fit(path, overrides, Timed)
        inside.append(Timed.spent / total)
    best_off, best_on = min(off), min(on)
    print(
        f"{path} {' '.join(overrides)}\n  fit without {best_off:.3f}s, with {best_on:.3f}s "
        f"(best of {repeats}): {100 * (best_on - best_off) / best_off:+.1f}%\n"
        f"  time inside the observer: {100 * sorted(inside)[repeats // 2]:.1f}% (median)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default="configs/digits.yaml")
    parser.add_argument("overrides", nargs="*", help="key.path=value, as bpcli train --set")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="one round of 2 epochs on xor")
    args = parser.parse_args()
    if args.smoke:
        main("configs/xor.yaml", ["training.epochs=2"], repeats=1)
    else:
        main(args.config, args.overrides, args.repeats)
