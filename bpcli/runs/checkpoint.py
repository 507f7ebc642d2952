"""The checkpoint format: a TrainingState (training/state.py) in an .npz, read without pickle.

Arrays: the weights W1, b1, … (so a checkpoint also serves as model.init_from), optimizer.<slot>.<W1…>
and best.<W1…>. Metadata is JSON stored as a uint8 array of UTF-8 bytes (`meta`), so the file is read
with allow_pickle=False; every array and field is checked against the network and optimizer before
anything is restored.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bpcli import __version__, weights
from bpcli.errors import RunError
from bpcli.runs import environment
from bpcli.runs.atomic import atomic_write
from bpcli.safe_read import read_npz
from bpcli.training.state import TrainingState

FORMAT = 1
MAX_META_BYTES = 256 * 2**20
"""Checkpoint metadata (JSON: settings, the per-epoch history) larger than this is refused."""
WHEN_WRITTEN = (
    "a checkpoint is written every training.checkpoint_every epochs, at the end of training, and "
    "when training is interrupted or diverges"
)


def data_fingerprint(experiment) -> str:
    """A hash of every split's network-ready arrays (X and Y; X read a chunk of rows at a time):
    resuming on changed data is refused."""
    digest = hashlib.sha256()
    for name, split in sorted(experiment.data.splits.items()):
        shape, dtype = (len(split), split.features.shape[1]), split.features.dtype
        digest.update(f"{name}{shape}{dtype}".encode())
        for chunk in split.chunks():
            digest.update(np.ascontiguousarray(chunk).data)
        digest.update(f"{name}{split.Y.shape}{split.Y.dtype}".encode())
        digest.update(np.ascontiguousarray(split.Y).data)
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------- file format


class _Stopper(BaseModel):
    best: float
    best_epoch: int | None = Field(None, ge=1)
    waited: int = Field(ge=0)


class _Meta(BaseModel):
    """The JSON stored as the `meta` array of a checkpoint."""

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
    blas_threads: int | None = Field(None, ge=1)


def save(path: Path, state: TrainingState, config, fingerprint: str) -> None:
    """Write the checkpoint atomically: weights, optimizer.*, best.* and the JSON `meta` array."""
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
        blas_threads=environment.blas_threads(),
    )
    arrays = dict(state.weights)
    arrays.update({f"optimizer.{k}": v for k, v in state.optimizer.items()})
    arrays.update({f"best.{k}": v for k, v in (state.best_weights or {}).items()})
    # json.dumps, not model_dump_json: Python's float repr round-trips every float bit for bit
    text = json.dumps(meta.model_dump(mode="python"))
    arrays["meta"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    atomic_write(path, weights.encode(arrays))


def load(path: str | Path, shapes: dict[str, tuple] | None = None) -> tuple[TrainingState, _Meta]:
    """Read and check the format of a checkpoint (no pickle); every problem is a RunError.

    `shapes` (W1, b1, … of the run's network): every array's header is checked against them before
    anything is read, so no array larger than the network's is ever expanded.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise RunError(f"no checkpoint: {path} is missing", WHEN_WRITTEN)
    arrays = read_npz(path, RunError, "checkpoint", _header_check(path, shapes))
    meta = _read_meta(path, arrays.pop("meta", None))
    groups: dict[str, dict] = {"": {}, "optimizer": {}, "best": {}}
    for name, array in arrays.items():
        prefix, key = _group(name)
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


def _group(name: str) -> tuple[str, str]:
    """('', 'W1'), ('best', 'W1'), ('optimizer', 'exp_avg.W1'); ('meta', '') for the metadata."""
    prefix, dot, key = name.partition(".")
    return (prefix, key) if dot else ("", name)


def _header_check(path: Path, shapes: dict[str, tuple] | None):
    """Refuse, from the headers alone, unknown arrays, oversized metadata and (given the network's
    `shapes`) any tensor whose shape is not the network's."""

    def check(headers) -> list[str]:
        for name, header in headers.items():
            if name == "meta":
                if header.nbytes > MAX_META_BYTES:
                    raise RunError(
                        f"{path}: checkpoint metadata of {header.nbytes} bytes, too large"
                    )
                continue
            prefix, key = _group(name)
            if prefix not in ("", "optimizer", "best"):
                raise RunError(f"{path}: unexpected array '{name}'")
            tensor = key.rpartition(".")[2]
            if shapes is not None:
                if tensor not in shapes:
                    raise RunError(
                        f"{path}: unexpected array '{name}'", f"the network has {list(shapes)}"
                    )
                weights.check_shape(name, header.shape, shapes[tensor], path)
        return list(headers)

    return check


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
    weights.check_arrays(state.weights, shapes, path, "weights", dtype=network.dtype)
    if state.best_weights is not None:
        weights.check_arrays(state.best_weights, shapes, path, "best.", dtype=network.dtype)
    slots = {f"{s}.{name}": shape for s in optimizer.slots for name, shape in shapes.items()}
    if state.optimizer or (state.optimizer_steps and slots):
        weights.check_arrays(state.optimizer, slots, path, "optimizer.", finite=False)
    try:
        np.random.PCG64().state = state.rng_state
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise RunError(f"{path}: invalid random-generator state ({error})") from None
