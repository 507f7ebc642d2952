"""The config schema (pydantic), YAML loading with line numbers, and `--set key.path=value` overrides.

Names (activations, losses, optimizers, …) are checked against the same registries the engine uses.
Every error names the key path, the YAML line where known, and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bpcli.core.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from bpcli.core.initializers import INITIALIZERS
from bpcli.core.losses import LOSSES
from bpcli.core.optimizers import OPTIMIZERS
from bpcli.core.schedules import SCHEDULES
from bpcli.errors import ConfigError

MAX_CONFIG_BYTES = 1_000_000
MAX_YAML_NODES = 100_000


def check_name(value: str, allowed, what: str) -> str:
    """Return `value` if it is one of `allowed`, else raise a ValueError with a suggestion."""
    if value in allowed:
        return value
    close = difflib.get_close_matches(str(value), list(allowed), n=1)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    raise ValueError(
        f"unknown {what} '{value}' - {suggestion}allowed: {', '.join(sorted(allowed))}"
    )


class Section(BaseModel):
    # allow_inf_nan=False: `lr: .inf` would pass `gt=0` and only fail as a diverged run
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class EarlyStopping(Section):
    patience: int = Field(5, ge=1, description="epochs without improvement before stopping")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as improvement")
    monitor: str = Field("val_loss", description="metric to watch: loss, val_loss, val_accuracy, …")
    restore_best: bool = Field(True, description="end with the weights of the best epoch")


class Schedule(Section):
    name: str = "constant"
    step_size: int = Field(10, ge=1, description="step: epochs between decays")
    gamma: float = Field(0.5, gt=0, le=1, description="step/exponential: decay factor")
    min_lr: float = Field(0.0, ge=0, description="cosine: the final learning rate")

    _check_name = field_validator("name")(lambda v: check_name(v, SCHEDULES, "schedule"))


class DataConfig(Section):
    source: str = Field(description="built-in dataset name or path to .csv/.npz/.npy")
    target: str | int | None = Field(None, description="CSV target column (default: the last)")
    validation_split: float = Field(0.1, ge=0, lt=1)
    test_split: float = Field(0.2, ge=0, lt=1)
    standardize: bool = True
    n_samples: int | None = Field(None, ge=1, description="built-in generators: sample count")
    noise: float | None = Field(None, ge=0, description="built-in generators: noise level")
    n_classes: int | None = Field(None, ge=2, description="blobs, spirals: number of classes")
    n_features: int | None = Field(None, ge=1, description="blobs, linear: number of features")
    folds: int | None = Field(
        None,
        ge=2,
        description="k-fold cross-validation: split the rows outside the test split into this many "
        "folds; fold `data.fold` is the validation split (validation_split is then not used)",
    )
    fold: int | None = Field(
        None, ge=0, description="with data.folds: which fold (0-based) is the validation split"
    )

    @model_validator(mode="after")
    def _splits_leave_training_data(self):
        if self.validation_split + self.test_split >= 1:
            raise ValueError(
                "validation_split + test_split must be below 1 (nothing left to train)"
            )
        return self

    @model_validator(mode="after")
    def _fold_of_folds(self):
        if (self.folds is None) != (self.fold is None):
            raise ValueError("data.folds and data.fold go together: give both or neither")
        if self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"data.fold must be below data.folds ({self.folds}), got {self.fold}")
        return self


class ModelConfig(Section):
    hidden: list[int] = Field(default_factory=lambda: [64], description="hidden layer widths")
    activation: str = "relu"
    output_activation: str = "auto"
    init: str = "he_normal"
    init_std: float = Field(0.01, gt=0, description="standard deviation for init: normal")
    init_from: str | None = None

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, widths):
        if any(width < 1 for width in widths):
            raise ValueError(f"hidden widths must be >= 1, got {widths}")
        return widths

    _check_activation = field_validator("activation")(
        lambda v: check_name(v, HIDDEN_ACTIVATIONS, "activation")
    )
    _check_output = field_validator("output_activation")(
        lambda v: check_name(v, [*ACTIVATIONS, "auto"], "output_activation")
    )
    _check_init = field_validator("init")(lambda v: check_name(v, INITIALIZERS, "init"))


class OptimizerConfig(Section):
    name: str = "adam"
    lr: float = Field(0.001, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="momentum, nesterov")
    beta1: float = Field(0.9, ge=0, lt=1, description="adam, adamw")
    beta2: float = Field(0.999, ge=0, lt=1, description="adam, adamw")
    rho: float = Field(0.9, ge=0, lt=1, description="rmsprop")
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Schedule = Field(default_factory=Schedule)

    _check_name = field_validator("name")(lambda v: check_name(v, OPTIMIZERS, "optimizer"))

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule_by_name(cls, value):
        return {"name": value} if isinstance(value, str) else value


class TrainingConfig(Section):
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=1)
    shuffle: bool = True
    dtype: Literal["float32", "float64"] = "float32"
    early_stopping: EarlyStopping | None = None
    checkpoint_every: int | None = Field(
        None,
        ge=1,
        description="write a checkpoint every N epochs (one is always written at the end); "
        "a run stopped by Ctrl-C, SIGTERM or divergence resumes from it with --resume",
    )
    clip_grad_norm: float | None = Field(
        None,
        gt=0,
        description="clip the global L2 norm of the gradient (all layers together) to this value "
        "before each optimizer step; off when unset",
    )
    diagnostics: bool = Field(
        True,
        description="record per-layer gradient diagnostics; warn about vanishing/exploding "
        "gradients and dead ReLUs",
    )


class OutputConfig(Section):
    dir: str = "runs"


class Config(Section):
    name: str | None = None
    seed: int = Field(0, ge=0)
    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: str = "cross_entropy"
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    _check_loss = field_validator("loss")(lambda v: check_name(v, LOSSES, "loss"))

    def resolve_output_activation(self) -> None:
        """Replace output_activation 'auto' by what the loss needs; reject a pairing that does not fit."""
        required = LOSSES[self.loss].output_activation
        chosen = self.model.output_activation
        if chosen == "auto":
            self.model.output_activation = required or "identity"
        elif required and chosen != required:
            raise ValueError(
                f"'{chosen}' does not fit loss '{self.loss}', which needs '{required}' (or 'auto')"
            )

    def digest(self) -> str:
        """A short hash of the resolved config, recorded with the run."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- YAML with line numbers


def _walk(node: yaml.Node, path: tuple, lines: dict, budget: list[int]) -> None:
    """Record the line number of every key path under `node`; reject duplicate keys and alias bombs."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ConfigError(
            f"YAML document has more than {MAX_YAML_NODES} nodes (or an alias bomb)",
            "write the config out plainly",
        )
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                where = ".".join(map(str, (*path, key)))
                raise ConfigError(
                    f"duplicate key '{where}' (line {key_node.start_mark.line + 1})",
                    "each key may appear once",
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, budget)


def read_yaml(path: Path) -> tuple[dict, dict]:
    """Load a YAML mapping safely; return it and a map from key path to line number."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}", "check the path")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: config file is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines: dict = {}
        if node is not None:
            _walk(node, (), lines, [MAX_YAML_NODES])
        document = yaml.safe_load(text)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {_yaml_problem(error)}") from None
    except RecursionError:
        raise ConfigError(
            f"{path}: YAML nested too deeply", "write the config out plainly"
        ) from None
    if not isinstance(document, dict):
        kind = type(document).__name__ if document is not None else "empty"
        raise ConfigError(f"{path}: the config must be a mapping of keys, got {kind} document")
    return document, lines


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    return f"{problem} (line {mark.line + 1})" if mark else problem


def value_text(value) -> str:
    """`value` as one line of YAML (flow style) that reads back as exactly `value`."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9)
    return text.removesuffix("\n").removesuffix("\n...")


def override_text(key_path: str, value) -> str:
    """The `key.path=value` assignment that `apply_override` reads back as exactly `value`."""
    return f"{key_path}={value_text(value)}"


def apply_override(document: dict, assignment: str) -> tuple[str, ...]:
    """Apply one `key.path=value` (value parsed as YAML) to the document, in place; returns the path."""
    key_path, sep, raw_value = assignment.partition("=")
    keys = key_path.strip().split(".")
    if not sep or not all(keys):
        raise ConfigError(f"--set '{assignment}': expected key.path=value, e.g. optimizer.lr=0.01")
    try:
        node = yaml.compose(raw_value, Loader=yaml.SafeLoader)
        if node is not None:
            _walk(node, (), {}, [MAX_YAML_NODES])
        value = yaml.safe_load(raw_value)
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key_path}: invalid YAML value: {_yaml_problem(error)}") from None
    except RecursionError:
        raise ConfigError(f"--set {key_path}: value nested too deeply") from None
    target = document
    for depth, key in enumerate(keys[:-1]):
        if target.get(key) is None:
            target[key] = {}
        target = target[key]
        if not isinstance(target, dict):
            where = ".".join(keys[: depth + 1])
            raise ConfigError(f"--set {key_path}: '{where}' is not a section")
    target[keys[-1]] = value
    return tuple(keys)


# ---------------------------------------------------------------------------- errors


def allowed_keys(loc: tuple, model: Any = None) -> list[str]:
    """The keys of the section at `loc` of `model` (default: Config), as written in YAML (a field's
    alias where it has one), for 'did you mean' on unknown keys; [] where `loc` is not a section."""
    model = model or Config
    for key in loc:
        field = _fields(model).get(key) if isinstance(key, str) else None
        if field is None:
            return []
        annotation = field.annotation
        candidates = getattr(annotation, "__args__", (annotation,))
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if model is None:
            return []
    return list(_fields(model))


def _fields(model: type[BaseModel]) -> dict:
    return {field.alias or name: field for name, field in model.model_fields.items()}


def locate(loc: tuple, locations: dict) -> str | None:
    """Where the innermost known key of `loc` was written: 'file, line N' or '--set'."""
    return next((locations[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in locations), None)


def _describe(error: dict, locations: dict, model) -> str:
    loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
    path = ".".join(map(str, loc)) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = allowed_keys(loc[:-1], model)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        suggestion = f"did you mean '{close[0]}'? " if close else ""
        message = f"unknown key - {suggestion}allowed: {', '.join(allowed)}"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif "input" in error and error["type"] not in ("value_error", "model_type"):
        message = f"{message}, got {error['input']!r}"
    where = locate(loc, locations)
    return f"{path} ({where}): {message}" if where else f"{path}: {message}"


def check_document(model: type[BaseModel], document: dict, locations: dict, what: str):
    """`model` validated from `document`, or one ConfigError 'invalid <what>:' listing every problem
    with its key path, where it was written (`locations`) and what is allowed."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = [_describe(e, locations, model) for e in error.errors()]
        raise ConfigError(f"invalid {what}:\n  " + "\n  ".join(problems)) from None


def validate(document: dict, locations: dict | None = None) -> Config:
    """Validate a config document; raise one ConfigError listing every problem.

    `locations` maps key paths to where they were written ('file, line N' or '--set').
    """
    locations = locations or {}
    config = check_document(Config, document, locations, "config")
    try:
        config.resolve_output_activation()
    except ValueError as error:
        where = locate(("model", "output_activation"), locations) or locate(("loss",), locations)
        raise ConfigError(
            f"invalid config:\n  model.output_activation ({where}): {error}"
        ) from None
    return config


def file_locations(path: Path, lines: dict) -> dict:
    """Key path -> 'file, line N', for error messages."""
    return {key: f"{path}, line {line}" for key, line in lines.items()}


def read_config(
    path: str | Path, overrides: list[str] = (), origins: dict[str, str] | None = None
) -> tuple[dict, dict]:
    """The YAML document with --set overrides applied, and where each key path was written:
    'file, line N', or for an override its entry in `origins` (by key path), else '--set'."""
    path = Path(path)
    document, lines = read_yaml(path)
    locations = file_locations(path, lines)
    for assignment in overrides:
        keys = apply_override(document, assignment)
        locations[keys] = (origins or {}).get(".".join(keys), "--set")
    return document, locations


def load_config(
    path: str | Path, overrides: list[str] = (), origins: dict[str, str] | None = None
) -> Config:
    """Read, override, resolve and validate a config file (`origins`: see read_config).

    Resolution: `name` defaults to the file's stem; relative file paths in data.source and
    model.init_from are made absolute against the config file's folder.
    """
    path = Path(path)
    document, locations = read_config(path, overrides, origins)
    return _resolve(validate(document, locations), path.stem, path.resolve().parent)


def config_from_dict(document: dict, overrides: list[str] = ()) -> Config:
    """Validate a config given as a mapping (the Python API); relative paths are against the
    working folder, `name` defaults to 'run'."""
    document = copy.deepcopy(document)
    locations = {apply_override(document, assignment): "--set" for assignment in overrides}
    return _resolve(validate(document, locations), "run", Path.cwd())


def _resolve(config: Config, name: str, base: Path) -> Config:
    if config.name is None:
        config.name = name
    if _looks_like_path(config.data.source):
        config.data.source = str((base / config.data.source).resolve())
    if config.model.init_from:
        config.model.init_from = str((base / config.model.init_from).resolve())
    return config


def _looks_like_path(source: str) -> bool:
    return (
        "/" in source or "\\" in source or Path(source).suffix.lower() in (".csv", ".npz", ".npy")
    )


def to_yaml(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
