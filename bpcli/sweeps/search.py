"""`search: optuna`: the points of a `random:` block proposed one by one by Optuna's TPE sampler
(seeded by random.seed) from the results so far, through Optuna's ask-and-tell interface. Optuna is
the optional extra bpcli[optuna], imported only here.

A point's result is the mean of the metric over its seeds and folds, told once all its trials are
back; a point with a diverged or failed trial is told as failed. With one worker the proposals are
the same every time; with more they depend on which trials finish first. After `--resume` the points
already proposed are told to a new study again, so later proposals differ from an unbroken run's.
"""

from __future__ import annotations

import math
import statistics

import yaml

from bpcli.errors import MissingExtra, RunError
from bpcli.sweeps.plan import Plan
from bpcli.sweeps.spec import Distribution, SweepSpec
from bpcli.sweeps.trial import Outcome


class OptunaSearch:
    """Points proposed by Optuna: `ask` one, `tell` its result."""

    def __init__(self, spec: SweepSpec):
        try:
            import optuna
        except ImportError:
            raise MissingExtra('search: optuna needs Optuna: pip install "bpcli[optuna]"') from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna, self.params = optuna, spec.random.params
        self.space = {key: self._distribution(dist) for key, dist in self.params.items()}
        sampler = optuna.samplers.TPESampler(seed=spec.random.seed)
        direction = "maximize" if spec.mode == "max" else "minimize"
        self.study = optuna.create_study(direction=direction, sampler=sampler)
        self.open: dict[int, object] = {}

    def _distribution(self, dist: Distribution):
        distributions = self.optuna.distributions
        if dist.uniform is not None or dist.loguniform is not None:
            low, high = dist.uniform or dist.loguniform
            return distributions.FloatDistribution(low, high, log=dist.loguniform is not None)
        if dist.randint is not None:
            return distributions.IntDistribution(*dist.randint)
        return distributions.CategoricalDistribution(list(range(len(dist.choice))))

    def _values(self, proposal: dict) -> dict:
        """Optuna's parameters as the spec's values (a choice is proposed by its index)."""
        return {
            key: self.params[key].choice[proposal[key]]
            if self.params[key].choice
            else proposal[key]
            for key in self.params
        }

    def _proposal(self, values: dict) -> dict:
        """The spec's values as Optuna's parameters (a choice by its index)."""
        return {
            key: self.params[key].choice.index(values[key])
            if self.params[key].choice
            else values[key]
            for key in self.params
        }

    def ask(self, point: int) -> dict:
        """The parameters of the next point."""
        trial = self.study.ask(self.space)
        self.open[point] = trial
        return self._values(trial.params)

    def tell_finished(self, sweep: Plan, outcomes: dict[str, Outcome]) -> None:
        """Tell the study each proposed point whose trials are all back: the mean metric, or a
        failure when one of them diverged or failed."""
        for point in list(self.open):
            back, value = point_value(sweep, outcomes, point)
            if not back:
                continue
            trial = self.open.pop(point)
            if value is None:
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            else:
                self.study.tell(trial, value)

    def restore(self, sweep: Plan, rows: list[dict]) -> None:
        """The points of an interrupted sweep back into `sweep` (from its trials table, in order), each
        registered with the study to be told when its trials are back."""
        per_point = len(sweep.per_point)
        for start in range(0, len(rows) - len(rows) % per_point, per_point):
            values = {key: yaml.safe_load(rows[start][key]) for key in self.params}
            trials = sweep.add_point(values)
            if [t.id for t in trials] != [row["id"] for row in rows[start : start + per_point]]:
                raise RunError(f"{sweep.spec.path}: the sweep's trials do not match the spec")
            self.study.enqueue_trial(self._proposal(values))
            self.open[trials[0].point] = self.study.ask(self.space)


def make_search(spec: SweepSpec) -> OptunaSearch | None:
    """The search that proposes points as the sweep goes, or None when the spec decides them all."""
    return OptunaSearch(spec) if spec.search == "optuna" else None


def point_value(sweep: Plan, outcomes: dict[str, Outcome], point: int) -> tuple[bool, float | None]:
    """Whether all trials of `point` are back, and the mean metric when all of them are done."""
    trials = [t for t in sweep.trials if t.point == point]
    statuses = [outcomes[t.id].status for t in trials]
    if any(status in ("interrupted", "pending") for status in statuses):
        return False, None
    if any(status != "done" for status in statuses):
        return True, None
    values = [outcomes[t.id].metrics[sweep.spec.metric] for t in trials]
    finite = all(value is not None and math.isfinite(value) for value in values)
    return True, statistics.fmean(values) if finite else None
