"""A sweep's results: one table row per trial (the trials table) and the ranking of its points by the
spec's metric, mean ± std over seeds and folds (the summary).

A point is ranked only when all its trials are done: a seed that diverged disqualifies it. The std is
the population standard deviation (ddof=0), as scikit-learn's GridSearchCV reports std_test_score.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter

from bpcli.config import value_text
from bpcli.core.metrics import SPLIT_PREFIXES
from bpcli.sweeps.plan import Plan, Trial
from bpcli.sweeps.trial import STATUSES, Outcome


def metric_columns(outcomes: dict[str, Outcome]) -> list[str]:
    """Every metric the trials reported: train_…, then val_…, then test_…, first-seen order within."""
    seen = dict.fromkeys(name for o in outcomes.values() for name in o.metrics)
    return [name for prefix in SPLIT_PREFIXES.values() for name in seen if name.startswith(prefix)]


def trial_columns(plan: Plan, outcomes: dict[str, Outcome]) -> list[str]:
    """The trials table's columns: id, the swept keys, seed, fold (cv), status, metrics, seconds,
    run, message."""
    folds = ["fold"] if plan.spec.cv else []
    return [
        "id",
        *plan.spec.swept,
        "seed",
        *folds,
        "status",
        *metric_columns(outcomes),
        "seconds",
        "run",
        "message",
    ]


def trial_row(trial: Trial, outcome: Outcome, run: str) -> dict:
    """A trial as a row of the trials table (parameters written as --set values, numbers in full)."""
    folds = {"fold": trial.fold} if trial.fold is not None else {}
    return {
        "id": trial.id,
        **{key: value_text(value) for key, value in trial.params.items()},
        "seed": trial.seed,
        **folds,
        "status": outcome.status,
        **{name: "" if v is None else repr(v) for name, v in outcome.metrics.items()},
        "seconds": f"{outcome.seconds:.3f}" if outcome.status in STATUSES[:3] else "",
        "run": run,
        "message": outcome.message,
    }


def summarize(plan: Plan, outcomes: dict[str, Outcome], runs: dict[str, str]) -> dict:
    """The sweep's summary: the metric, the best point, every point ranked, counts by status."""
    spec = plan.spec
    counts = Counter(outcomes[t.id].status for t in plan.trials)
    by_point: dict[int, list[Trial]] = {}
    for trial in plan.trials:
        by_point.setdefault(trial.point, []).append(trial)
    points = [point_result(trials, outcomes, runs, spec.metric) for trials in by_point.values()]
    ranked = sorted(
        (p for p in points if p["mean"] is not None),
        key=lambda p: p["mean"],
        reverse=spec.mode == "max",
    )
    unranked = [p for p in points if p["mean"] is None]
    return {
        "spec": str(spec.path.resolve()),
        "metric": spec.metric,
        "mode": spec.mode,
        "params": spec.swept,
        "trials": len(plan.trials),
        "counts": {status: counts.get(status, 0) for status in STATUSES},
        "complete": counts.get("interrupted", 0) + counts.get("pending", 0) == 0,
        "best": ranked[0] if ranked else None,
        "points": ranked + unranked,
    }


def point_result(
    trials: list[Trial], outcomes: dict[str, Outcome], runs: dict, metric: str
) -> dict:
    """One point: its parameters, mean ± std of each metric over its trials (when all are done)."""
    done = [outcomes[t.id] for t in trials if outcomes[t.id].status == "done"]
    complete = len(done) == len(trials)
    names = dict.fromkeys(name for o in done for name in o.metrics)
    metrics = {name: spread([o.metrics[name] for o in done]) for name in names} if complete else {}
    ranked = metrics.get(metric, {"mean": None, "std": None})
    return {
        "params": trials[0].params,
        "mean": ranked["mean"],
        "std": ranked["std"],
        "runs": len(trials),
        "statuses": dict(Counter(outcomes[t.id].status for t in trials)),
        "trials": [runs[t.id] for t in trials],
        "metrics": metrics,
    }


def spread(values: list[float]) -> dict:
    """Mean and population std; None where a value is missing or not finite (JSON has no NaN)."""
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        return {"mean": None, "std": None}
    return {"mean": statistics.fmean(values), "std": statistics.pstdev(values)}
