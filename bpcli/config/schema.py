"""The config schema (pydantic): every section and key with its default, constraint and description.

Names (activations, losses, optimizers, …) are checked against the same registries the engine uses;
each optimizer, schedule and data source takes only its own settings (variants generated from the
registries), and cross-field rules (loss and output activation, layers or shorthand, …) live here.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
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
