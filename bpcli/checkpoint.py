"""Checkpoints: the whole training state after an epoch, in checkpoint.npz, read without pickle.

A checkpoint holds what `fit` needs to continue as if it had never stopped: the weights, the optimizer's
moments and step count, the shuffle generator's state, the early-stopping state (with the best weights)
and the history so far; the epoch count is also the learning-rate schedule's position. Metadata is
JSON stored as a uint8 array of UTF-8 bytes inside the npz, so the file is read with
allow_pickle=False; every array and field is checked against the network and optimizer before
anything is restored.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bpcli.errors import RunError
from bpcli.runs import RUN_FILES, atomic_write, metrics_csv, save_weights, write_json

CHECKPOINT = "checkpoint.npz"
FORMAT = 1
WHEN_WRITTEN = (
    "a checkpoint is written every training.checkpoint_every epochs, at the end of training, and "
    "when training is interrupted or diverges"
)


@dataclass
class TrainingState:
    """Everything `fit` needs to continue after `epoch` completed epochs (arrays are copies)."""

    epoch: int
    weights: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    optimizer_steps: int
    rng_state: dict
    history: list[dict]
    stopper: dict | None = None
    best_weights: dict[str, np.ndarray] | None = None
    stopped_early: bool = False


def capture(experiment, stopper, history, epoch: int) -> TrainingState:
    """Snapshot the training state after `epoch` epochs (copies, so training may go on)."""
    return TrainingState(
        epoch=epoch,
        weights={k: v.copy() for k, v in experiment.network.state().items()},
        optimizer={k: v.copy() for k, v in experiment.optimizer.state.items()},
        optimizer_steps=experiment.optimizer.steps,
        rng_state=experiment.shuffle_rng.bit_generator.state,
        history=list(history.epochs),
        stopper=None
        if stopper is None
        else {"best": stopper.best, "best_epoch": stopper.best_epoch, "waited": stopper.waited},
        # the stopper replaces best_state on improvement, never mutates it: sharing is safe
        best_weights=None if stopper is None else stopper.best_state,
        stopped_early=history.stopped_early,
    )


def restore(experiment, stopper, history, state: TrainingState) -> None:
    """Put a (checked) state back into the experiment, the early stopper and the history, in place."""
    experiment.network.load_state(state.weights)
    experiment.optimizer.state = {k: v.copy() for k, v in state.optimizer.items()}
    experiment.optimizer.steps = state.optimizer_steps
    experiment.shuffle_rng.bit_generator.state = state.rng_state
    history.epochs = list(state.history)
    history.stopped_early = state.stopped_early
    if stopper is not None and state.stopper is not None:
        stopper.best = state.stopper["best"]
        stopper.best_epoch = state.stopper["best_epoch"]
        stopper.waited = state.stopper["waited"]
        if state.best_weights is not None:
            stopper.best_state = {k: v.copy() for k, v in state.best_weights.items()}


def data_fingerprint(experiment) -> str:
    """A hash of every split's network-ready arrays: resuming on changed data is refused."""
    digest = hashlib.sha256()
    for name, split in sorted(experiment.data.splits.items()):
        for array in (split.X, split.Y):
            digest.update(f"{name}{array.shape}{array.dtype}".encode())
            digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------- file format


class _Stopper(BaseModel):
    best: float
    best_epoch: int | None = Field(None, ge=1)
    waited: int = Field(ge=0)


class _Meta(BaseModel):
    """The JSON stored as the `meta` array of checkpoint.npz."""

    model_config = ConfigDict(extra="forbid")
    format: Literal[1]
    bpcli: str
    epoch: int = Field(ge=0)
    stopped_early: bool
    optimizer: str
    optimizer_steps: int = Field(ge=0)
    rng_state: dict
    early_stopping: _Stopper | None
    history: list[dict[str, int | float]]
    config_hash: str
    data_fingerprint: str


def save_checkpoint(path: Path, state: TrainingState, config, fingerprint: str) -> None:
    """Write checkpoint.npz atomically: weights W1, b1, … (usable as model.init_from), optimizer.*,
    best.* and a JSON `meta` array."""
    from bpcli import __version__

    meta = _Meta(
        format=FORMAT,
        bpcli=__version__,
        epoch=state.epoch,
        stopped_early=state.stopped_early,
        optimizer=config.optimizer.name,
        optimizer_steps=state.optimizer_steps,
        rng_state=state.rng_state,
        early_stopping=state.stopper,
        history=state.history,
        config_hash=config.digest(),
        data_fingerprint=fingerprint,
    )
    arrays = dict(state.weights)
    arrays.update({f"optimizer.{k}": v for k, v in state.optimizer.items()})
    arrays.update({f"best.{k}": v for k, v in (state.best_weights or {}).items()})
    # json.dumps, not model_dump_json: Python's float repr round-trips every float bit for bit
    text = json.dumps(meta.model_dump(mode="python"))
    arrays["meta"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    save_weights(path, arrays)


def load_checkpoint(path: str | Path) -> tuple[TrainingState, _Meta]:
    """Read and check the format of a checkpoint (no pickle); every problem is a RunError."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"no checkpoint: {path} is missing", WHEN_WRITTEN)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        raise RunError(f"{path}: not a readable checkpoint ({error})") from None
    meta = _read_meta(path, arrays.pop("meta", None))
    groups: dict[str, dict] = {"": {}, "optimizer": {}, "best": {}}
    for name, array in arrays.items():
        prefix, dot, key = name.partition(".")
        prefix, key = (prefix, key) if dot else ("", name)
        if prefix not in groups:
            raise RunError(f"{path}: unexpected array '{name}'")
        if array.dtype.kind != "f":  # an object array cannot get here: allow_pickle=False
            raise RunError(f"{path}: array '{name}' is {array.dtype}, not floating point")
        groups[prefix][key] = array
    if len(meta.history) != meta.epoch:
        raise RunError(
            f"{path}: history has {len(meta.history)} epochs, the checkpoint says {meta.epoch}"
        )
    state = TrainingState(
        epoch=meta.epoch,
        weights=groups[""],
        optimizer=groups["optimizer"],
        optimizer_steps=meta.optimizer_steps,
        rng_state=meta.rng_state,
        history=meta.history,
        stopper=meta.early_stopping.model_dump() if meta.early_stopping else None,
        best_weights=groups["best"] or None,
        stopped_early=meta.stopped_early,
    )
    return state, meta


def _read_meta(path: Path, array) -> _Meta:
    if array is None or array.dtype != np.uint8 or array.ndim != 1:
        raise RunError(
            f"{path}: no checkpoint metadata (a 'meta' array of UTF-8 JSON bytes)",
            "is it a weights file?",
        )
    try:
        return _Meta.model_validate(json.loads(array.tobytes().decode("utf-8")))
    except (ValueError, RecursionError) as error:  # ValidationError, UnicodeDecodeError too
        if isinstance(error, ValidationError):
            first = error.errors()[0]
            where = ".".join(map(str, first["loc"])) or "(top level)"
            raise RunError(
                f"{path}: invalid checkpoint metadata: {where}: {first['msg']}"
            ) from None
        raise RunError(f"{path}: checkpoint metadata is not valid JSON") from None


def check_state(experiment, state: TrainingState, meta: _Meta, path: Path) -> None:
    """Refuse a checkpoint that does not fit this network, optimizer, data or epoch budget."""
    config, network, optimizer = experiment.config, experiment.network, experiment.optimizer
    if meta.optimizer != config.optimizer.name:
        raise RunError(
            f"{path}: made with optimizer '{meta.optimizer}', the config says '{config.optimizer.name}'"
        )
    if meta.data_fingerprint != data_fingerprint(experiment):
        raise RunError(
            f"{path}: the data differ from the data the checkpoint was trained on",
            "restore the original data, or start a new run",
        )
    if state.epoch > config.training.epochs:
        raise RunError(
            f"{path}: already at epoch {state.epoch}, beyond training.epochs={config.training.epochs}"
        )
    shapes = {p.name: p.value.shape for p in network.parameters()}
    _check_arrays(state.weights, shapes, path, "weights")
    if state.best_weights is not None:
        _check_arrays(state.best_weights, shapes, path, "best.")
    slots = {f"{s}.{name}": shape for s in optimizer.slots for name, shape in shapes.items()}
    if state.optimizer or (state.optimizer_steps and slots):
        _check_arrays(state.optimizer, slots, path, "optimizer.", finite=False)
    try:
        np.random.PCG64().state = state.rng_state
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise RunError(f"{path}: invalid random-generator state ({error})") from None


def _check_arrays(arrays: dict, shapes: dict, path: Path, what: str, finite: bool = True) -> None:
    if sorted(arrays) != sorted(shapes):
        raise RunError(f"{path}: {what} holds {sorted(arrays)}, the network needs {sorted(shapes)}")
    for name, array in arrays.items():
        if array.shape != shapes[name]:
            raise RunError(
                f"{path}: '{name}' has shape {array.shape}, the network needs {shapes[name]}"
            )
        if finite and not np.isfinite(array).all():
            raise RunError(f"{path}: '{name}' holds NaN or inf")


# ---------------------------------------------------------------------------- the run folder


class RunFolder:
    """Writes a run's progress: config and preprocessing first, then checkpoint.npz and metrics.csv."""

    def __init__(self, path: Path, experiment):
        self.path, self.experiment = Path(path), experiment
        self.fingerprint = data_fingerprint(experiment)

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    def remove_files(self) -> None:
        """Delete bpcli's own run files here (and nothing else the folder may hold)."""
        for name in (*RUN_FILES, CHECKPOINT):
            (self.path / name).unlink(missing_ok=True)

    def begin(self) -> None:
        """Start a new run here: drop files of an earlier run (after --force), write config and prep."""
        from bpcli.config import to_yaml

        self.remove_files()
        atomic_write(self.path / "config.yaml", to_yaml(self.experiment.config))
        write_json(self.path / "preprocess.json", self.experiment.data.preprocess.__dict__)

    def save_progress(self, state: TrainingState) -> None:
        """The checkpoint first, then the metrics it covers (each file atomic)."""
        save_checkpoint(self.checkpoint, state, self.experiment.config, self.fingerprint)
        atomic_write(self.path / "metrics.csv", metrics_csv(state.history))


def open_resume(run_dir: str | Path, overrides: list[str]):
    """The config (with --set overrides) and the checked-format checkpoint of a run folder."""
    from bpcli.config import load_config

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"--resume {run_dir}: no such run folder")
    if not (run_dir / "config.yaml").is_file():
        raise RunError(f"--resume {run_dir}: not a run folder (config.yaml is missing)")
    state, meta = load_checkpoint(run_dir / CHECKPOINT)
    return load_config(run_dir / "config.yaml", overrides), state, meta
