"""An experiment: everything a training run needs (data, network, loss, optimizer, shuffle generator),
built from one config and its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bpcli import weights
from bpcli.config import Config
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
    shuffle_rng: np.random.Generator

    @property
    def task(self) -> str:
        return self.loss.task

    @property
    def target_std(self) -> list[float] | None:
        """σ of the standardized regression targets (None if not standardized): metrics use it to
        report in the target's own units."""
        return self.data.preprocess.target_std


def seeded_generators(seed: int) -> tuple[np.random.Generator, ...]:
    """Data, split, init and shuffle generators: one seed fixes them all, each independent."""
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))


def prepare_data(config: Config) -> Prepared:
    """The config's data, split and preprocessed exactly as training sees it (no network built)."""
    rng_data, rng_split, _, _ = seeded_generators(config.seed)
    task = LOSSES[config.loss].task
    dtype = np.dtype(config.training.dtype)
    loss_given = "loss" in config.model_fields_set
    try:
        return prepare(config.data, task, dtype, rng_data, rng_split, loss_given)
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
    widths = layer_widths(inputs, model.hidden, outputs)
    try:
        return MLP.build(
            widths,
            model.activation,
            model.output_activation,
            model.init,
            rng,
            np.dtype(config.training.dtype),
            model.init_std,
        )
    except MemoryError:
        raise ConfigError(
            f"model.hidden: a network with widths {widths} does not fit in memory",
            "use fewer or narrower hidden layers",
        ) from None


def build_optimizer(config: Config) -> Optimizer:
    """The configured optimizer with its own settings (the learning rate comes per step)."""
    settings = config.optimizer.model_dump(exclude={"name", "lr", "schedule"})
    return OPTIMIZERS[config.optimizer.name](**settings)


def setup(config: Config) -> Experiment:
    """Seeded data, network (warm-started from model.init_from if set) and optimizer."""
    _, _, rng_init, rng_shuffle = seeded_generators(config.seed)
    data = prepare_data(config)
    network = build_network(
        config, data.splits["train"].features.shape[1], data.preprocess.outputs, rng_init
    )
    if config.model.init_from:
        weights.load_into(network, config.model.init_from)
    loss = LOSSES[config.loss]
    return Experiment(config, data, network, loss, build_optimizer(config), rng_shuffle)
