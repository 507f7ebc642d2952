"""The trials of a sweep: its points (every grid combination, or `trials` random draws from a
generator seeded by `random.seed`), each repeated per seed and per fold.

Whatever the backend and the number of workers, the same spec gives the same trials, in the same
order, with the same ids; each trial's config is validated here, before anything runs. With
`search: optuna` the points come one by one from the search (plan.add_point), with the same ids.
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
    """A sweep's trials with their validated configs (by trial id); `points` of them in all."""

    spec: SweepSpec
    base: Config
    points: int
    trials: list[Trial] = field(default_factory=list)
    configs: dict[str, Config] = field(default_factory=dict)

    @property
    def per_point(self) -> list[tuple[int, int | None]]:
        """The (seed, fold) pairs each point is trained with."""
        seeds = self.spec.seeds or [self.base.seed]
        folds: list[int | None] = list(range(self.spec.cv)) if self.spec.cv else [None]
        return list(itertools.product(seeds, folds))

    @property
    def size(self) -> int:
        """The number of trials, once every point is known."""
        return self.points * len(self.per_point)

    @property
    def complete(self) -> bool:
        """Every point is known (a search may still have points to propose)."""
        return len(self.trials) == self.size

    def trial_id(self, index: int) -> str:
        """'007': the index zero-padded to the width of the largest (at least 3 digits)."""
        return f"{index:0{max(3, len(str(self.size - 1)))}d}"

    def add_point(self, params: dict) -> list[Trial]:
        """The next point's trials, their configs validated (errors point into the spec)."""
        point, first = len(self.trials) // len(self.per_point), len(self.trials)
        trials = [
            Trial(self.trial_id(first + index), point, params, seed, fold)
            for index, (seed, fold) in enumerate(self.per_point)
        ]
        origins = self.spec.origins()
        for trial in trials:
            self.configs[trial.id] = load_config(
                self.spec.base_path, trial.overrides(self.spec), origins
            )
        self.trials += trials
        return trials


def points(spec: SweepSpec) -> list[dict]:
    """The parameter points decided by the spec: grid combinations in spec order, random draws, or
    the base alone; none for a search that proposes them as it goes (optuna)."""
    if spec.grid is not None:
        keys = list(spec.grid)
        combos = itertools.product(*spec.grid.values())
        return [dict(zip(keys, values, strict=True)) for values in combos]
    if spec.random is not None:
        if spec.search == "optuna":
            return []
        rng = np.random.default_rng(spec.random.seed)
        return [
            {key: dist.sample(rng) for key, dist in spec.random.params.items()}
            for _ in range(spec.random.trials)
        ]
    return [{}]


def plan(spec: SweepSpec) -> Plan:
    """Every trial the spec decides, with its config; ConfigError (pointing into the spec) before
    anything runs."""
    base = spec.base_config()
    check_metric(spec, base)
    chosen = points(spec)
    count = spec.random.trials if spec.search == "optuna" else len(chosen)
    sweep = Plan(spec, base, count)
    if sweep.size > MAX_TRIALS:
        raise ConfigError(
            f"{spec.path}: {sweep.size} trials (points x seeds x folds) is more than {MAX_TRIALS}",
            "sweep fewer values, or sample points with random:",
        )
    for params in chosen:
        sweep.add_point(params)
    return sweep
