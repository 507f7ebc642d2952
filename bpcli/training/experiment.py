"""An experiment: everything a training run needs (data, network, loss, optimizer, shuffle generator),
built from one config and its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bpcli import weights
from bpcli.config import Config
from bpcli.core import schedules
from bpcli.core.losses import LOSSES, Loss
from bpcli.core.network import MLP, layer_widths
from bpcli.core.optimizers import OPTIMIZERS, Optimizer
from bpcli.data.splits import Prepared, prepare
from bpcli.errors import ConfigError, DataError


@dataclass
class Experiment:
    """Everything a training run needs, built from one config and one seed."""

    config: Config
    data: Prepared
    network: MLP
    loss: Loss
    optimizer: Optimizer
    schedule: schedules.Schedule
    shuffle_rng: np.random.Generator
    dropout_rng: np.random.Generator

    @property
    def task(self) -> str:
        return self.loss.task

    @property
    def target_std(self) -> list[float] | None:
        """σ of the standardized regression targets (None if not standardized): metrics use it to
        report in the target's own units."""
        return self.data.preprocess.target_std


def seeded_generators(seed: int) -> tuple[np.random.Generator, ...]:
    """Data, split, init, shuffle and dropout generators: one seed fixes them all, each independent.

    (Spawned children depend only on their index: adding a generator leaves the others unchanged.)
    """
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5))


def prepare_data(config: Config) -> Prepared:
    """The config's data, split and preprocessed exactly as training sees it (no network built)."""
    rng_data, rng_split, *_ = seeded_generators(config.seed)
    task = LOSSES[config.loss].task
    dtype = np.dtype(config.training.dtype)
    loss_given = "loss" in config.model_fields_set
    class_weight = config.training.class_weight
    try:
        return prepare(config.data, task, dtype, rng_data, rng_split, loss_given, class_weight)
    except MemoryError:
        samples = getattr(config.data, "n_samples", None)
        size = f" with data.n_samples={samples}" if samples else ""
        raise DataError(
            f"data.source {config.data.source}{size} does not fit in memory",
            "use fewer samples, or a machine with more memory",
        ) from None


def build_network(config: Config, inputs: int, outputs: int, rng: np.random.Generator) -> MLP:
    """The config's network for `inputs` features and `outputs` outputs, initialised from `rng`."""
    model = config.model
    hidden = model.hidden_layers()
    widths = layer_widths(inputs, [layer.width for layer in hidden], outputs)
    try:
        return MLP.build(
            widths,
            [layer.activation for layer in hidden],
            model.output_activation,
            model.init,
            rng,
            np.dtype(config.training.dtype),
            model.init_std,
            [layer.dropout for layer in hidden],
        )
    except MemoryError:
        key = "model.layers" if model.layers is not None else "model.hidden"
        raise ConfigError(
            f"{key}: a network with widths {widths} does not fit in memory",
            "use fewer or narrower hidden layers",
        ) from None


def build_optimizer(config: Config) -> Optimizer:
    """The configured optimizer with its own settings (the learning rate comes per step)."""
    settings = config.optimizer.model_dump(exclude={"name", "lr", "schedule"})
    return OPTIMIZERS[config.optimizer.name](**settings)


def build_schedule(config: Config) -> schedules.Schedule:
    """The configured learning-rate schedule (with its warm-up) over training.epochs."""
    opt, schedule = config.optimizer, config.optimizer.schedule
    return schedules.build(
        schedule.name, opt.lr, config.training.epochs, schedule.warmup_epochs, **schedule.options()
    )


def setup(config: Config) -> Experiment:
    """Seeded data, network (warm-started from model.init_from if set) and optimizer."""
    _, _, rng_init, rng_shuffle, rng_dropout = seeded_generators(config.seed)
    data = prepare_data(config)
    network = build_network(config, data.preprocess.inputs, data.preprocess.outputs, rng_init)
    if config.model.init_from:
        weights.load_into(network, config.model.init_from)
    optimizer, schedule = build_optimizer(config), build_schedule(config)
    loss = LOSSES[config.loss]
    return Experiment(config, data, network, loss, optimizer, schedule, rng_shuffle, rng_dropout)
