"""What a resumed run may change: `--set` keys are checked before anything is validated, and early
stopping's rule for the best epoch stays as the epochs already trained were judged by it.
"""

from __future__ import annotations

from bpcli.config.documents import override_keys
from bpcli.config.schema import Config
from bpcli.errors import ConfigError

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
