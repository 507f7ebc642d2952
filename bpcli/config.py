"""The config schema (pydantic), YAML loading with line numbers, and `--set key.path=value` overrides.

Names (activations, losses, optimizers, …) are checked against the same registries the engine uses.
Every error names the key path, the YAML line where known, and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from bpcli.core.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from bpcli.core.initializers import INITIALIZERS
from bpcli.core.losses import LOSSES
from bpcli.core.metrics import metric_names
from bpcli.core.optimizers import OPTIMIZERS
from bpcli.core.schedules import SCHEDULES
from bpcli.core.schedules import settings as schedule_settings
from bpcli.data.sources import GENERATORS
from bpcli.data.sources import settings as generator_settings
from bpcli.errors import ConfigError

MAX_CONFIG_BYTES = 1_000_000
MAX_YAML_NODES = 100_000
MAX_KEY_DEPTH = 8
"""A --set key path with more levels than this is refused (the schema is 4 deep)."""


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
    monitor: str | None = Field(
        None, description="metric to watch (default: training.monitor; the two must agree)"
    )
    restore_best: bool = Field(True, description="end with the weights of the best epoch")


# ---------------------------------------------------------------------------- settings per variant

SETTINGS: dict[str, tuple[type, dict]] = {
    "momentum": (float, {"ge": 0, "lt": 1, "description": "μ: how much velocity carries over"}),
    "beta1": (float, {"ge": 0, "lt": 1, "description": "β1: decay of the gradient's mean"}),
    "beta2": (float, {"ge": 0, "lt": 1, "description": "β2: decay of the squared gradient's mean"}),
    "rho": (float, {"ge": 0, "lt": 1, "description": "ρ: decay of the squared gradient's mean"}),
    "eps": (float, {"gt": 0, "description": "ε: keeps the denominator away from 0"}),
    "step_size": (int, {"ge": 1, "description": "epochs between decays"}),
    "gamma": (float, {"gt": 0, "le": 1, "description": "γ: the decay factor"}),
    "min_lr": (
        float,
        {"ge": 0, "description": "α_min: the lowest learning rate (cosine: the final one)"},
    ),
    "monitor": (
        str,
        {"description": "the metric to watch: loss, accuracy / mae, r2, each also as val_<metric>"},
    ),
    "factor": (float, {"gt": 0, "lt": 1, "description": "multiplies the rate on a plateau"}),
    "patience": (
        int,
        {"ge": 0, "description": "epochs without improvement before the rate is reduced"},
    ),
    "threshold": (
        float,
        {"ge": 0, "lt": 1, "description": "the smallest change that counts as improvement"},
    ),
    "threshold_mode": (
        Literal["rel", "abs"],
        {"description": "rel: relative to the best value so far; abs: absolute"},
    ),
    "cooldown": (
        int,
        {"ge": 0, "description": "epochs after a reduction during which no plateau is counted"},
    ),
    "n_samples": (int, {"ge": 1, "description": "number of rows to generate"}),
    "noise": (float, {"ge": 0, "description": "noise level"}),
    "n_classes": (int, {"ge": 2, "description": "number of classes"}),
    "n_features": (int, {"ge": 1, "description": "number of features"}),
}
"""Every setting an optimizer, schedule or generator may declare: its type and constraints. The
registries (OPTIMIZERS, SCHEDULES, GENERATORS) say which of them each one takes, with the defaults."""


def _variant(
    model_name: str, base: type, fields: dict, settings: dict, after: dict | None = None
) -> type[BaseModel]:
    """A section model for one optimizer/schedule/source: `fields`, its own settings, `after`."""
    own = {}
    for key, default in settings.items():
        kind, constraints = SETTINGS[key]
        own[key] = (kind, Field(default, **constraints))
    return create_model(model_name, __base__=base, **fields, **own, **(after or {}))


def _tagged_union(models: dict[str, type[BaseModel]], key: str, default: str | None):
    """One of `models`, chosen by the value's `key` (or `default` when it has none)."""

    def tag(value):
        if isinstance(value, dict):
            found = value.get(key, default)
            return None if found is None else str(found)
        return getattr(value, key, None) if isinstance(value, BaseModel) else None

    members = tuple(Annotated[model, Tag(name)] for name, model in models.items())
    return Annotated[Union[members], Discriminator(tag)]  # noqa: UP007 (a runtime tuple of types)


class Schedule(Section):
    """A learning-rate schedule: `name`, a linear warm-up in front, and the schedule's own settings."""

    warmup_epochs: int = Field(
        0,
        ge=0,
        description="W: a linear warm-up α(e+1)/W over the first W epochs, then the schedule "
        "over the remaining epochs (0: none; W >= training.epochs: warm-up only)",
    )

    def options(self) -> dict:
        """The schedule's own settings (without name and warm-up), as its constructor takes them."""
        return self.model_dump(exclude={"name", "warmup_epochs"})


SCHEDULE_MODELS = {
    name: _variant(
        f"{name.title()}Schedule",
        Schedule,
        {"name": (Literal[name], Field(name, description="the schedule"))},
        schedule_settings(name),
    )
    for name in SCHEDULES
}
ScheduleConfig = _tagged_union(SCHEDULE_MODELS, "name", "constant")


class DataConfig(Section):
    """Where the rows come from, and how they are split and standardized."""

    @model_validator(mode="after")
    def _splits_leave_training_data(self):
        if self.validation_split + self.test_split >= 1:
            raise ValueError(
                "validation_split + test_split must be below 1 (nothing left to train)"
            )
        return self

    @field_validator("drop", check_fields=False)
    @classmethod
    def _features_or_drop(cls, drop, info):
        if drop is not None and info.data.get("features") is not None:
            raise ValueError("give either data.features or data.drop, not both")
        return drop

    @model_validator(mode="after")
    def _fold_of_folds(self):
        if (self.folds is None) != (self.fold is None):
            raise ValueError("data.folds and data.fold go together: give both or neither")
        if self.folds is not None and self.fold >= self.folds:
            raise ValueError(f"data.fold must be below data.folds ({self.folds}), got {self.fold}")
        return self

    def target_column(self) -> str | int | None:
        """The target column of a file source; None for generators (they have no columns)."""
        return getattr(self, "target", None)


_SPLITTING = {
    "validation_split": (
        float,
        Field(0.1, ge=0, lt=1, description="fraction held out for validation"),
    ),
    "test_split": (
        float,
        Field(0.2, ge=0, lt=1, description="fraction held out for the final test"),
    ),
    "standardize": (
        bool,
        Field(True, description="z-score features with training-split statistics"),
    ),
    "folds": (
        int | None,
        Field(
            None,
            ge=2,
            description="k-fold cross-validation: the rows outside the test split in this many "
            "folds; fold `data.fold` is the validation split (validation_split is then not used)",
        ),
    ),
    "fold": (
        int | None,
        Field(None, ge=0, description="with data.folds: which fold (0-based) validates"),
    ),
    "standardize_target": (
        bool | None,
        Field(
            None,
            description="z-score regression targets with training-split statistics while "
            "training; predictions, eval and reported losses stay in the original units "
            "(null: on for the regression losses mse, mae, huber; off otherwise)",
        ),
    ),
    "stratify": (
        bool | None,
        Field(
            None,
            description="keep every class in each split in its overall proportion "
            "(default: true for classification losses, false for regression)",
        ),
    ),
}
_COLUMNS = {
    "features": (
        list[str] | None,
        Field(
            None, description="the feature columns to use, by name (default: all but the target)"
        ),
    ),
    "drop": (
        list[str] | None,
        Field(
            None, description="columns to leave out of the features, by name (not with features)"
        ),
    ),
    "categorical": (
        list[str] | Literal["auto"] | None,
        Field(
            None,
            description="feature columns to one-hot encode, by name, or auto: every feature "
            "column holding text",
        ),
    ),
    "unknown": (
        Literal["error", "ignore"],
        Field(
            "error",
            description="a category not seen in training: error (exit 2), or ignore (all-zero "
            "encoding, as scikit-learn's OneHotEncoder(handle_unknown='ignore'))",
        ),
    ),
    "weight": (
        str | None,
        Field(None, description="a column of sample weights (numbers >= 0) for the loss"),
    ),
}
FILE_SOURCE = "file"
DATA_MODELS = {
    FILE_SOURCE: create_model(
        "FileData",
        __base__=DataConfig,
        source=(str, Field(description="a shipped dataset name or a .csv/.npz/.npy path")),
        target=(
            str | int | None,
            Field(None, description="CSV: the target column by name or index (default: the last)"),
        ),
        **_SPLITTING,
        **_COLUMNS,
    ),
    **{
        name: _variant(
            f"{name.title()}Data",
            DataConfig,
            {"source": (Literal[name], Field(description="a built-in generator")), **_SPLITTING},
            generator_settings(name),
        )
        for name in GENERATORS
    },
}


def _data_kind(value):
    source = value.get("source") if isinstance(value, dict) else getattr(value, "source", None)
    if isinstance(value, dict | BaseModel):
        return source if isinstance(source, str) and source in GENERATORS else FILE_SOURCE
    return None


DataSource = Annotated[
    Union[tuple(Annotated[m, Tag(n)] for n, m in DATA_MODELS.items())],  # noqa: UP007
    Discriminator(_data_kind),
]


def data_config(**settings) -> DataConfig:
    """A validated data section from keyword settings, e.g. data_config(source="iris")."""
    return TypeAdapter(DataSource).validate_python(settings)


def _hidden_activation(value: str) -> str:
    return check_name(value, HIDDEN_ACTIVATIONS, "activation")


class LayerConfig(Section):
    """One hidden layer of `model.layers`: its width, activation and dropout rate."""

    width: int = Field(ge=1, description="number of units")
    activation: str = Field("relu", description="the layer's activation (any hidden activation)")
    dropout: float = Field(
        0.0, ge=0, lt=1, description="inverted dropout rate p during training (0: none)"
    )

    _check_activation = field_validator("activation")(_hidden_activation)


SHORTHAND = {"hidden": [64], "activation": "relu", "dropout": 0.0}
"""The shorthand for hidden layers all alike, with its defaults (used when model.layers is not given)."""


class ModelConfig(Section):
    hidden: list[int] | None = Field(
        None, description="hidden layer widths, all alike (default [64]; or model.layers)"
    )
    activation: str | None = Field(
        None, description="the activation of every hidden layer (default relu)"
    )
    dropout: float | None = Field(
        None, ge=0, lt=1, description="inverted dropout rate p of every hidden layer (default 0)"
    )
    layers: list[LayerConfig] | None = Field(
        None,
        description="the general form: one {width, activation, dropout} per hidden layer, "
        "instead of hidden/activation/dropout",
    )
    output_activation: str = "auto"
    init: str = "he_normal"
    init_std: float = Field(0.01, gt=0, description="standard deviation for init: normal")
    init_from: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand_defaults(cls, data):
        """Without model.layers, the shorthand's missing keys take their defaults."""
        if isinstance(data, dict) and data.get("layers") is None:
            missing = {key: value for key, value in SHORTHAND.items() if data.get(key) is None}
            return {**data, **missing}
        return data

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, widths):
        if widths is not None and any(width < 1 for width in widths):
            raise ValueError(f"hidden widths must be >= 1, got {widths}")
        return widths

    @field_validator("layers")
    @classmethod
    def _one_form(cls, layers, info):
        given = [f"model.{key}" for key in SHORTHAND if info.data.get(key) is not None]
        if layers is not None and given:
            raise ValueError(
                f"give either model.layers or {' / '.join(given)}, not both "
                "(model.layers: [{width: 64, activation: relu, dropout: 0.2}, ...] says it all)"
            )
        return layers

    _check_activation = field_validator("activation")(
        lambda v: v if v is None else _hidden_activation(v)
    )
    _check_output = field_validator("output_activation")(
        lambda v: check_name(v, [*ACTIVATIONS, "auto"], "output_activation")
    )
    _check_init = field_validator("init")(lambda v: check_name(v, INITIALIZERS, "init"))

    def hidden_layers(self) -> list[LayerConfig]:
        """Every hidden layer, from model.layers or from the hidden/activation/dropout shorthand."""
        if self.layers is not None:
            return self.layers
        return [
            LayerConfig(width=width, activation=self.activation, dropout=self.dropout)
            for width in self.hidden
        ]


class OptimizerConfig(Section):
    """An optimizer: `name`, the learning rate, that optimizer's own settings, decay, schedule."""

    @field_validator("schedule", mode="before", check_fields=False)
    @classmethod
    def _schedule_by_name(cls, value):
        return {"name": value} if isinstance(value, str) else value


OPTIMIZER_MODELS = {
    name: _variant(
        f"{cls.__name__}Optimizer",
        OptimizerConfig,
        {
            "name": (Literal[name], Field(name, description="the optimizer")),
            "lr": (float, Field(0.001, gt=0, description="α: the learning rate")),
        },
        cls.settings,
        {
            "weight_decay": (float, Field(0.0, ge=0, description="λ: L2 penalty on the weights")),
            "schedule": (ScheduleConfig, Field(default_factory=SCHEDULE_MODELS["constant"])),
        },
    )
    for name, cls in OPTIMIZERS.items()
}
Optimizer = _tagged_union(OPTIMIZER_MODELS, "name", "adam")


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
    class_weight: Any = Field(
        None,
        description="weigh each class's rows in the loss: balanced (n_samples / (n_classes · "
        "count), from the training split) or {label: weight} (other labels weigh 1); "
        "cross_entropy and binary_cross_entropy only",
    )
    keep: Literal["last", "best"] = Field(
        "last",
        description="which weights the run saves: the last epoch's, or the best epoch's by "
        "training.monitor (needs a validation split)",
    )
    monitor: str | None = Field(
        None,
        description="the metric that decides the best epoch (keep: best, early stopping): loss, "
        "accuracy / mae, r2, each also as val_<metric>; default: early_stopping.monitor if "
        "set, else val_loss (loss without a validation split)",
    )

    @field_validator("class_weight")
    @classmethod
    def _balanced_or_mapping(cls, value):
        """balanced, or {label: weight > 0} with the labels as text (YAML may read them as numbers)."""
        if value is None or value == "balanced":
            return value
        if not isinstance(value, dict) or not value:
            raise ValueError(f"must be balanced or a mapping {{label: weight}}, got {value!r}")
        weights = {}
        for label, weight in value.items():
            number = (
                weight if isinstance(weight, int | float) and not isinstance(weight, bool) else None
            )
            if number is None or not math.isfinite(number) or number <= 0:
                raise ValueError(f"the weight of {label!r} must be a number > 0, got {weight!r}")
            weights[str(label)] = float(number)
        return weights


class OutputConfig(Section):
    dir: str = "runs"


class Config(Section):
    name: str | None = None
    seed: int = Field(0, ge=0)
    data: DataSource
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: str = "cross_entropy"
    optimizer: Optimizer = Field(default_factory=OPTIMIZER_MODELS["adam"])
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    _check_loss = field_validator("loss")(lambda v: check_name(v, LOSSES, "loss"))

    def resolve(self) -> list[tuple[tuple, str]]:
        """Fill the keys that depend on others (output_activation auto, stratify), and return the
        combinations that do not fit, as (key path, why) pairs."""
        loss = LOSSES[self.loss]
        problems = []
        required, chosen = loss.output_activation, self.model.output_activation
        if chosen == "auto":
            self.model.output_activation = required or "identity"
        elif required and chosen != required:
            problems.append(
                (
                    ("model", "output_activation"),
                    f"'{chosen}' does not fit loss '{self.loss}', which needs '{required}' (or 'auto')",
                )
            )
        classifier = loss.task != "regression"
        if self.data.stratify is None:
            self.data.stratify = classifier
        elif self.data.stratify and not classifier:
            problems.append(
                (
                    ("data", "stratify"),
                    f"needs class labels; loss '{self.loss}' is a regression loss",
                )
            )
        if self.data.standardize_target is None:
            self.data.standardize_target = not classifier
        elif self.data.standardize_target and classifier:
            problems.append(
                (
                    ("data", "standardize_target"),
                    f"applies to the regression losses (mse, mae, huber), not '{self.loss}'",
                )
            )
        if self.training.class_weight is not None and not classifier:
            problems.append(
                (
                    ("training", "class_weight"),
                    f"applies to cross_entropy and binary_cross_entropy, not '{self.loss}'",
                )
            )
        return problems + self._monitoring_problems(loss.task)

    def _monitoring_problems(self, task: str) -> list[tuple[tuple, str]]:
        """One metric decides the best epoch (training.monitor or early_stopping.monitor, the other
        follows; see training.loop.BestRule); keep: best needs a validation split; every monitor
        given must be a metric this run measures."""
        training, stopping = self.training, self.training.early_stopping
        validation = self.data.validation_split > 0
        measured = metric_names(task, validation)
        problems = []
        if (
            stopping is not None
            and None not in (stopping.monitor, training.monitor)
            and stopping.monitor != training.monitor
        ):
            problems.append(
                (
                    ("training", "early_stopping", "monitor"),
                    f"'{stopping.monitor}' differs from training.monitor '{training.monitor}'; "
                    "one metric decides the best epoch: set one of them",
                )
            )
        if training.keep == "best" and not validation:
            problems.append(
                (
                    ("training", "keep"),
                    "best needs a validation split (data.validation_split > 0) to pick the epoch",
                )
            )
        if training.keep == "best" and stopping is not None and not stopping.restore_best:
            problems.append(
                (
                    ("training", "early_stopping", "restore_best"),
                    "false contradicts training.keep: best (which restores the best epoch)",
                )
            )
        schedule = self.optimizer.schedule
        monitors = [
            (("optimizer", "schedule", "monitor"), getattr(schedule, "monitor", None)),
            (("training", "monitor"), training.monitor),
            (("training", "early_stopping", "monitor"), stopping and stopping.monitor),
        ]
        for path, monitor in monitors:
            if monitor is not None and monitor not in measured:
                problems.append(
                    (
                        path,
                        f"'{monitor}' is not measured in this run; it measures {', '.join(measured)}",
                    )
                )
        return problems

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
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    f"line {key_node.start_mark.line + 1}: a key must be a plain name, not a "
                    f"{'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'}",
                    "write keys as name: value",
                )
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


def override_keys(assignment: str) -> list[str]:
    """The key path of one `key.path=value` override, e.g. ['optimizer', 'lr']."""
    key_path, sep, _ = assignment.partition("=")
    keys = key_path.strip().split(".")
    if not sep or not all(keys):
        raise ConfigError(f"--set '{assignment}': expected key.path=value, e.g. optimizer.lr=0.01")
    if len(keys) > MAX_KEY_DEPTH:
        raise ConfigError(
            f"--set {key_path[:60]}…: {len(keys)} levels of keys; config keys are at most "
            f"{MAX_KEY_DEPTH} deep"
        )
    if "\x00" in assignment:
        raise ConfigError(f"--set {key_path}: contains a NUL byte", "remove it")
    return keys


def apply_override(document: dict, assignment: str) -> tuple[str, ...]:
    """Apply one `key.path=value` (value parsed as YAML) to the document, in place; returns the path."""
    keys = override_keys(assignment)
    key_path, _, raw_value = assignment.partition("=")
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


# ---------------------------------------------------------------------------- resuming

MID_RUN = (
    "training.epochs",
    "training.early_stopping",
    "training.checkpoint_every",
    "training.clip_grad_norm",
    "training.diagnostics",
    "optimizer.lr",
    "optimizer.schedule",
)
"""The settings (with everything below them) that `--set` may change when a run is resumed: how long
it trains and when it stops, checkpoints, clipping, diagnostics, the learning rate from now on."""
FIXED = {
    "model": "the model",
    "data": "the data",
    "seed": "the data split and the initial weights",
    "loss": "the loss",
    "optimizer": "the optimizer",
    "training.dtype": "the dtype",
    "training.batch_size": "the batches",
    "training.shuffle": "the batches",
    "training.class_weight": "the loss",
    "training.monitor": "which epoch counts as best, for epochs already judged",
    "training.keep": "which weights are kept, for epochs already trained",
    "training": "the training",
    "name": "the run's name",
    "output": "where runs are saved",
}
"""What every other setting changes, most specific first: a resumed run cannot change it."""


def _under(dotted: str, prefix: str) -> bool:
    return dotted == prefix or dotted.startswith(prefix + ".")


def check_resumable(overrides: list[str]) -> None:
    """Refuse a --set that a resumed run cannot apply mid-run, naming the key and what it changes
    (read from the keys alone, before anything is validated)."""
    for assignment in overrides:
        dotted = ".".join(override_keys(assignment))
        if any(_under(dotted, allowed) for allowed in MID_RUN):
            continue
        changes = next((what for key, what in FIXED.items() if _under(dotted, key)), "the run")
        remedy = "start a new run" + (", or use model.init_from" if changes == "the model" else "")
        raise ConfigError(
            f"--set {dotted} (--resume): changes {changes}: {remedy}",
            f"a resumed run may change only {', '.join(MID_RUN)}",
        )


def check_same_best(saved: Config, resumed: Config) -> None:
    """Early stopping's monitor and min_delta decide which epoch is best: a resumed run cannot change
    them, nor switch early stopping on, because the epochs already trained were judged by the old rule."""
    before, after = saved.training.early_stopping, resumed.training.early_stopping
    if after is None:
        return
    if before is None:
        raise ConfigError(
            "--set training.early_stopping (--resume): switches early stopping on mid-run, but the "
            "weights of the epochs already trained were not kept: start a new run with it",
            "a resumed run may change early stopping's patience or restore_best, or turn it off",
        )
    for key in ("monitor", "min_delta"):
        if getattr(before, key) != getattr(after, key):
            raise ConfigError(
                f"--set training.early_stopping.{key} (--resume): changes which epoch counts as "
                "best, for epochs already judged: start a new run",
                "a resumed run may change early stopping's patience or restore_best, or turn it off",
            )


# ---------------------------------------------------------------------------- errors


UNIONS = {"data": DATA_MODELS, "optimizer": OPTIMIZER_MODELS, "schedule": SCHEDULE_MODELS}
"""The sections whose settings depend on a choice (the source, the optimizer's or schedule's name)."""
EXAMPLES = {
    "data": "{source: iris}",
    "model": "{hidden: [64], activation: relu}",
    "optimizer": "{name: sgd, lr: 0.1}",
    "optimizer.schedule": "{name: cosine} or just cosine",
    "training": "{epochs: 30, batch_size: 32}",
    "training.early_stopping": "{patience: 5}",
    "output": "{dir: runs}",
}
MAPPING_ERRORS = ("model_type", "model_attributes_type", "dict_type", "union_tag_not_found")


def _untagged(loc: tuple) -> tuple[tuple, dict[tuple, str]]:
    """The key path without pydantic's union tags, and which variant each tagged section took."""
    path, chosen, previous = [], {}, None
    for part in loc:
        if str(part).startswith("function-"):
            continue
        if previous in UNIONS and part in UNIONS[previous] and tuple(path) not in chosen:
            chosen[tuple(path)] = previous = part
            continue
        path.append(part)
        previous = part
    return tuple(path), chosen


def _fields(model: type[BaseModel]) -> dict:
    """A model's fields by the key written in YAML (the alias where a field has one)."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _section_model(path: tuple, chosen: dict, root: Any = None) -> type[BaseModel] | None:
    """The model of the section at `path` of `root` (default Config; the chosen variant for data,
    optimizer and schedule)."""
    model: Any = root or Config
    for depth, key in enumerate(path):
        if isinstance(key, int) or key not in _fields(model):
            return None
        if key in UNIONS:
            model = UNIONS[key].get(chosen.get(path[: depth + 1]))
            continue
        annotation = _fields(model)[key].annotation
        candidates = getattr(annotation, "__args__", ()) or (annotation,)
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if model is None:
            return None
    return model


def config_keys(path: tuple) -> list[str] | None:
    """The keys a config section accepts at `path` (for data, optimizer and schedule: the keys of
    any of their variants); None when `path` is not a section."""
    if not path:
        return list(_fields(Config))
    if path in (("data",), ("optimizer",), ("optimizer", "schedule")):
        variants = UNIONS[path[-1]].values()
        return list(dict.fromkeys(key for model in variants for key in _fields(model)))
    model = _section_model(path, {})
    return list(_fields(model)) if model else None


def _variant_name(section: str, tag: str) -> str:
    if section == "data":
        return "a file source" if tag == FILE_SOURCE else f"the '{tag}' generator"
    return f"the {tag} schedule" if section == "schedule" else tag


def _unknown_key(path: tuple, chosen: dict, root: Any) -> str:
    """Why a key is not accepted here, and what is."""
    section = _section_model(path[:-1], chosen, root)
    allowed = list(_fields(section)) if section else []
    key, parent = str(path[-1]), path[-2] if len(path) > 1 else None
    if parent in UNIONS and (path[:-1] in chosen):
        tag = chosen[path[:-1]]
        elsewhere = any(key in model.model_fields for model in UNIONS[parent].values())
        if elsewhere:
            what = _variant_name(parent, tag)
            takes = [name for name in allowed if name not in ("name", "source")]
            return f"not a setting of {what}; {what} takes {', '.join(takes)}"
    close = difflib.get_close_matches(key, allowed, n=1)
    suggestion = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key - {suggestion}allowed: {', '.join(allowed)}"


def locate(loc: tuple, locations: dict) -> str | None:
    """Where the innermost known key of `loc` was written: 'file, line N' or '--set'."""
    return next((locations[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in locations), None)


def _describe(error: dict, locations: dict, root: Any) -> str:
    path, chosen = _untagged(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    kind = error["type"]
    if kind == "extra_forbidden":
        message = _unknown_key(path, chosen, root)
    elif kind == "missing":
        message = "required key is missing"
    elif kind in MAPPING_ERRORS:
        dotted = ".".join(map(str, path))
        example = EXAMPLES.get(dotted)
        message = (
            f"must be a mapping{f', e.g. {example}' if example else ''}, got {error['input']!r}"
        )
    elif kind == "union_tag_invalid":
        section = path[-1]
        what = {"optimizer": "optimizer", "schedule": "schedule"}[section]
        path = (*path, "name")
        try:
            check_name(str(error["input"].get("name")), UNIONS[section], what)
        except ValueError as problem:
            message = str(problem)
    elif "input" in error and kind != "value_error":
        message = f"{message}, got {error['input']!r}"
    where = locate(path, locations)
    dotted = ".".join(map(str, path)) or "(top level)"
    return f"{dotted} ({where}): {message}" if where else f"{dotted}: {message}"


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
    nul = _path_with_nul(document)
    if nul is not None:
        where = locate(nul, locations)
        raise ConfigError(
            f"invalid config:\n  {'.'.join(map(str, nul))}{f' ({where})' if where else ''}: "
            "contains a NUL byte, which no name or path may hold"
        )
    config = check_document(Config, document, locations, "config")
    problems = []
    for path, message in config.resolve():
        where = locate(path, locations) or locate(("loss",), locations)
        dotted = ".".join(path)
        problems.append(f"{dotted} ({where}): {message}" if where else f"{dotted}: {message}")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return config


def _path_with_nul(value, path: tuple = ()) -> tuple | None:
    """The key path of the first string (key or value) holding a NUL byte, else None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*path, key)
        found = _path_with_nul(item, (*path, key))
        if found is not None:
            return found
    return None


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
