#!/usr/bin/env python3
"""How much training time the backward-pass diagnostics (`training.diagnostics: true`) cost.

For one config it times `bpcli.training.loop.fit` (the whole training of `bpcli train`, without the
run folder: setup is outside the clock) three ways, interleaved round by round so that a slow spell
of a shared machine hits all alike:
  off      fit without an observer (training.diagnostics: false);
  on       fit with the `Diagnostics` observer that `bpcli train` attaches by default;
  inside   fit with a `Diagnostics` that also clocks its own `after_backward` and `end_epoch`
           calls: the share of the training time spent inside the observer.
It prints (a) the best-of-N wall time off and on and their difference, and (b) the median share
of (inside). On a noisy machine (b) is the steadier figure. The observer sees the sampled batches
only (see training.loop), so (b) is all it costs: those batches take the plain step with
diagnostics off too.

    python benchmarks/diagnostics_overhead.py                          # configs/digits.yaml, 7 rounds
    python benchmarks/diagnostics_overhead.py configs/moons.yaml training.epochs=50 --repeats 5
    python benchmarks/diagnostics_overhead.py --smoke                  # 1 round, 1 epoch: it runs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from bpcli.config import load_config
from bpcli.training.diagnostics import Diagnostics
from bpcli.training.experiment import setup
from bpcli.training.loop import fit

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "digits.yaml"


class ClockedDiagnostics(Diagnostics):
    """The default observer, plus the seconds spent inside its per-batch and per-epoch hooks."""

    def __init__(self, network):
        super().__init__(network)
        self.seconds = 0.0

    def after_backward(self, network) -> None:
        started = time.perf_counter()
        super().after_backward(network)
        self.seconds += time.perf_counter() - started

    def after_step(self, network) -> None:
        started = time.perf_counter()
        super().after_step(network)
        self.seconds += time.perf_counter() - started

    def end_epoch(self, record: dict) -> None:
        started = time.perf_counter()
        super().end_epoch(record)
        self.seconds += time.perf_counter() - started


def timed_fit(path: str, overrides: list[str], observer_class) -> tuple[float, float]:
    """Wall seconds of one `fit` of the config, and the seconds spent inside the observer."""
    experiment = setup(load_config(path, overrides))
    observer = observer_class(experiment.network) if observer_class else None
    started = time.perf_counter()
    fit(experiment, observer=observer)
    total = time.perf_counter() - started
    return total, getattr(observer, "seconds", 0.0)


def measure(path: str, overrides: list[str], repeats: int) -> dict:
    """Best-of-`repeats` seconds off and on, and the median share of time inside the observer."""
    off, on, inside = [], [], []
    for _ in range(repeats):
        off.append(timed_fit(path, overrides, None)[0])
        on.append(timed_fit(path, overrides, Diagnostics)[0])
        total, spent = timed_fit(path, overrides, ClockedDiagnostics)
        inside.append(spent / total)
    best_off, best_on = min(off), min(on)
    return {
        "off_s": best_off,
        "on_s": best_on,
        "overhead": (best_on - best_off) / best_off,
        "inside_share": statistics.median(inside),
    }


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG), help="a config file")
    parser.add_argument("overrides", nargs="*", help="key.path=value, as bpcli's --set")
    parser.add_argument("--repeats", type=int, default=7, help="rounds (default 7)")
    parser.add_argument(
        "--smoke", action="store_true", help="one round of one epoch: checks that it runs"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.overrides = 1, [*args.overrides, "training.epochs=1"]
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    result = measure(args.config, args.overrides, args.repeats)
    print(
        f"{args.config} {' '.join(args.overrides)}\n"
        f"  fit without diagnostics {result['off_s']:.3f} s, with {result['on_s']:.3f} s "
        f"(best of {args.repeats}): {100 * result['overhead']:+.1f} %\n"
        f"  time inside the observer: {100 * result['inside_share']:.1f} % (median)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
