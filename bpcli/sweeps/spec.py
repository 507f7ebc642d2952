"""The sweep spec: the base config, the settings every trial shares (`set`), the ones that vary (`grid`
or `random`), seeds, cross-validation folds, and the metric that ranks the trials.

Read and validated like a config (bpcli.config's YAML reader and error machinery): unknown keys with a
suggestion, every problem with its key path and YAML line, one ConfigError (exit 2). Keys under
`set`, `grid` and `random.params` are config key paths in the --set grammar (`optimizer.lr`).
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import Field, PrivateAttr, field_validator, model_validator

from bpcli.config import (
    Config,
    Section,
    check_document,
    config_keys,
    file_locations,
    load_config,
    override_text,
    read_yaml,
)
from bpcli.core.losses import LOSSES
from bpcli.core.metrics import LOWER_IS_BETTER, SPLIT_PREFIXES
from bpcli.errors import ConfigError
from bpcli.training.loop import metric_names

MAX_TRIALS = 10_000


class Distribution(Section):
    """One sampled parameter: exactly one of uniform, loguniform, randint or choice."""

    uniform: tuple[float, float] | None = Field(None, description="a float in [low, high)")
    loguniform: tuple[float, float] | None = Field(
        None, description="a float in [low, high), uniform in log space (low > 0)"
    )
    randint: tuple[int, int] | None = Field(None, description="an integer in [low, high]")
    choice: list[Any] | None = Field(None, min_length=1, description="one of these values")

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of uniform, loguniform, randint, choice"
                + (f" (got {', '.join(given)})" if given else "")
            )
        bounds = self.uniform or self.loguniform or self.randint
        if bounds is not None and not bounds[0] <= bounds[1]:
            raise ValueError(f"[low, high] needs low <= high, got {list(bounds)}")
        if self.loguniform is not None and self.loguniform[0] <= 0:
            raise ValueError(f"loguniform needs low > 0, got {self.loguniform[0]}")
        return self

    def sample(self, rng: np.random.Generator):
        """One value drawn with `rng` (plain Python numbers, so they print and dump cleanly)."""
        if self.uniform is not None:
            return float(rng.uniform(*self.uniform))
        if self.loguniform is not None:
            low, high = self.loguniform
            return float(math.exp(rng.uniform(math.log(low), math.log(high))))
        if self.randint is not None:
            return int(rng.integers(self.randint[0], self.randint[1], endpoint=True))
        return self.choice[int(rng.integers(len(self.choice)))]


class RandomSearch(Section):
    trials: int = Field(ge=1, le=MAX_TRIALS, description="how many points to sample")
    seed: int = Field(0, ge=0, description="seed of the sampling (the same seed, the same points)")
    params: dict[str, Distribution] = Field(min_length=1, description="key path -> distribution")


class SweepSpec(Section):
    base: str = Field(description="the config file every trial starts from, relative to the spec")
    fixed: dict[str, Any] = Field(
        default_factory=dict, alias="set", description="key path -> value, for every trial"
    )
    grid: dict[str, list[Any]] | None = Field(
        None, description="key path -> values; every combination is a point"
    )
    random: RandomSearch | None = Field(None, description="sampled points")
    search: Literal["random", "optuna"] = Field(
        "random",
        description="how the random block's points are chosen: independent draws, or proposed by "
        "Optuna's TPE from the results so far (needs bpcli[optuna])",
    )
    seeds: list[int] | None = Field(
        None, min_length=1, description="repeat each point with these seeds"
    )
    cv: int | None = Field(
        None, ge=2, description="k-fold cross-validation on the rows outside the test split"
    )
    metric: str = Field("val_loss", description="what ranks the points: <split>_<metric>")
    mode: Literal["min", "max"] | None = Field(
        None, description="min or max; default: min for loss/mae/mse/rmse, max otherwise"
    )

    _path: Path = PrivateAttr(default=Path("spec.yaml"))
    _locations: dict = PrivateAttr(default_factory=dict)

    @field_validator("grid")
    @classmethod
    def _values_to_try(cls, grid):
        empty = [key for key, values in (grid or {}).items() if not values]
        if empty:
            raise ValueError(f"grid.{empty[0]}: give at least one value")
        return grid

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds):
        if seeds is not None and (len(set(seeds)) != len(seeds) or min(seeds) < 0):
            raise ValueError(f"seeds must be distinct and >= 0, got {seeds}")
        return seeds

    @model_validator(mode="after")
    def _one_search(self):
        if self.grid is not None and self.random is not None:
            raise ValueError("give grid or random, not both")
        if self.search == "optuna" and self.random is None:
            raise ValueError("search: optuna proposes the points of a random: block; give one")
        if self.mode is None:
            self.mode = "min" if split_metric(self.metric)[1] in LOWER_IS_BETTER else "max"
        return self

    # ------------------------------------------------------------------------ derived

    @property
    def path(self) -> Path:
        """The spec file it was read from."""
        return self._path

    @property
    def base_path(self) -> Path:
        return (self._path.parent / self.base).resolve()

    @property
    def swept(self) -> list[str]:
        """The key paths that vary from point to point, in spec order."""
        if self.grid is not None:
            return list(self.grid)
        return list(self.random.params) if self.random is not None else []

    def origin(self, *loc) -> str:
        """Where `loc` (a key path in the spec) was written: 'file, line N'."""
        return self._locations.get(loc, str(self._path))

    def origins(self) -> dict[str, str]:
        """Config key path -> where the spec sets it, for errors in the trials' configs."""
        where = {key: self.origin("set", key) for key in self.fixed}
        where.update({key: self.origin("grid", key) for key in self.grid or {}})
        if self.random is not None:
            where.update({key: self.origin("random", "params", key) for key in self.random.params})
        where["seed"] = self.origin("seeds")
        where["data.folds"] = where["data.fold"] = self.origin("cv")
        return where

    def base_config(self) -> Config:
        """The base config with `set` applied (errors point into the spec for `set` keys)."""
        return load_config(self.base_path, self.fixed_overrides(), self.origins())

    def fixed_overrides(self) -> list[str]:
        return [override_text(key, value) for key, value in self.fixed.items()]

    def resolved(self) -> dict:
        """The spec as the sweep folder keeps it: defaults filled in, `base` an absolute path."""
        document = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return {**document, "base": str(self.base_path)}


def split_metric(name: str) -> tuple[str, str]:
    """'val_accuracy' -> ('validation', 'accuracy'); ('', name) when it names no split."""
    for split, prefix in SPLIT_PREFIXES.items():
        if name.startswith(prefix):
            return split, name.removeprefix(prefix)
    return "", name


def read_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec; ConfigError naming every problem with its line."""
    path = Path(path)
    document, lines = read_yaml(path)
    locations = file_locations(path, lines)
    spec = check_document(SweepSpec, document, locations, f"sweep spec {path}")
    spec._path, spec._locations = path, locations
    problems = key_path_problems(spec)
    if problems:
        raise ConfigError(f"invalid sweep spec {path}:\n  " + "\n  ".join(problems))
    return spec


def key_path_problems(spec: SweepSpec) -> list[str]:
    """Keys of set/grid/random.params that are no config key, or that the sweep itself sets."""
    reserved = {"seed": "seeds"} if spec.seeds else {}
    if spec.cv:
        reserved.update({"data.folds": "cv", "data.fold": "cv"})
    groups = {
        "set": spec.fixed,
        "grid": spec.grid or {},
        "random.params": spec.random.params if spec.random else {},
    }
    problems = []
    for group, keys in groups.items():
        for key in keys:
            problem = config_key_problem(key)
            if problem is None and key in reserved:
                problem = f"set by the spec's '{reserved[key]}' key: do not set it here too"
            if problem is None and group != "set" and key in spec.fixed:
                problem = "both fixed (set) and swept: keep one"
            if problem:
                where = spec.origin(*group.split("."), key)
                problems.append(f"{group}.{key} ({where}): {problem}")
    return problems


def config_key_problem(key_path: str) -> str | None:
    """Why `key_path` names no config setting (with a suggestion), or None when it does."""
    keys = tuple(key_path.split("."))
    for depth, key in enumerate(keys):
        allowed = config_keys(keys[:depth])
        if allowed is None:
            return f"'{'.'.join(keys[:depth])}' is not a config section"
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f"did you mean '{'.'.join((*keys[:depth], close[0]))}'? " if close else ""
            return (
                f"unknown config key '{key_path}' - {suggestion}allowed here: {', '.join(allowed)}"
            )
    return None


def check_metric(spec: SweepSpec, config: Config) -> None:
    """The spec's metric must be one the trials of this config measure."""
    task = LOSSES[config.loss].task
    has_validation = bool(spec.cv) or config.data.validation_split > 0 or bool(config.data.folds)
    splits = [s for s in SPLIT_PREFIXES if s != "validation" or has_validation]
    if config.data.test_split == 0:
        splits.remove("test")
    allowed = [SPLIT_PREFIXES[s] + name for s in splits for name in metric_names(task, False)]
    if spec.metric not in allowed:
        close = difflib.get_close_matches(spec.metric, allowed, n=1)
        suggestion = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(
            f"invalid sweep spec {spec.path}:\n  metric ({spec.origin('metric')}): "
            f"'{spec.metric}' is not measured by these trials - {suggestion}"
            f"allowed: {', '.join(allowed)}"
        )


def to_yaml(spec: SweepSpec) -> str:
    return yaml.safe_dump(spec.resolved(), sort_keys=False)
