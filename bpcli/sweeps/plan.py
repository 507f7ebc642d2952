"""The trials of a sweep, decided by the spec alone: its points (every grid combination, or `trials`
random draws from a generator seeded by `random.seed`), each repeated per seed and per fold.

Whatever the backend and the number of workers, the same spec gives the same trials, in the same
order, with the same ids; each trial's config is validated here, before anything runs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from bpcli.config import Config, load_config, override_text
from bpcli.errors import ConfigError
from bpcli.sweeps.spec import MAX_TRIALS, SweepSpec, check_metric


@dataclass(frozen=True)
class Trial:
    """One training of the sweep: its point's parameters, its seed and (cross-validation) fold."""

    id: str
    point: int
    params: dict = field(hash=False)
    seed: int
    fold: int | None = None

    def overrides(self, spec: SweepSpec) -> list[str]:
        """The --set assignments that turn the base config into this trial's config."""
        assignments = spec.fixed_overrides()
        assignments += [override_text(key, value) for key, value in self.params.items()]
        if spec.seeds:
            assignments.append(override_text("seed", self.seed))
        if self.fold is not None:
            assignments += [
                override_text("data.folds", spec.cv),
                override_text("data.fold", self.fold),
            ]
        return assignments


@dataclass
class Plan:
    """A sweep's trials with their validated configs (by trial id)."""

    spec: SweepSpec
    trials: list[Trial]
    configs: dict[str, Config]


def points(spec: SweepSpec) -> list[dict]:
    """The parameter points: grid combinations in spec order, random draws, or the base alone."""
    if spec.grid is not None:
        keys = list(spec.grid)
        return [
            dict(zip(keys, values, strict=True))
            for values in itertools.product(*spec.grid.values())
        ]
    if spec.random is not None:
        rng = np.random.default_rng(spec.random.seed)
        return [
            {key: dist.sample(rng) for key, dist in spec.random.params.items()}
            for _ in range(spec.random.trials)
        ]
    return [{}]


def plan(spec: SweepSpec) -> Plan:
    """Every trial of the spec with its config; ConfigError (pointing into the spec) before any runs."""
    base = spec.base_config()
    check_metric(spec, base)
    chosen = points(spec)
    seeds = spec.seeds or [base.seed]
    folds: list[int | None] = list(range(spec.cv)) if spec.cv else [None]
    count = len(chosen) * len(seeds) * len(folds)
    if count > MAX_TRIALS:
        raise ConfigError(
            f"{spec.path}: {count} trials (points x seeds x folds) is more than {MAX_TRIALS}",
            "sweep fewer values, or sample points with random:",
        )
    width = max(3, len(str(count - 1)))
    combos = itertools.product(enumerate(chosen), seeds, folds)
    trials = [
        Trial(f"{index:0{width}d}", point, params, seed, fold)
        for index, ((point, params), seed, fold) in enumerate(combos)
    ]
    origins = spec.origins()
    configs = {t.id: load_config(spec.base_path, t.overrides(spec), origins) for t in trials}
    return Plan(spec, trials, configs)
