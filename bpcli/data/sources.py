"""Data sources: the built-in generators, the shipped CSV datasets, and files (.csv/.npz/.npy) by path.

Everything random takes an explicit numpy Generator.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from bpcli.data.files import Table, load_csv, load_numpy
from bpcli.errors import DataError

PACKAGE_DATASETS = Path(__file__).resolve().parents[1] / "datasets"
REPO_DATASETS = Path(__file__).resolve().parents[2] / "datasets"
SHIPPED = ("iris", "wine", "breast_cancer", "digits", "diabetes")


# ---------------------------------------------------------------------------- generators


def xor(rng, n_samples=4, noise=0.0):
    """The XOR truth table, repeated to n_samples rows, with optional Gaussian jitter."""
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    X = np.resize(corners, (n_samples, 2)) + noise * rng.standard_normal((n_samples, 2))
    y = np.resize([0, 1, 1, 0], n_samples)
    return X, y


def moons(rng, n_samples=400, noise=0.15):
    """Two interleaving half circles (labels 0, 1)."""
    half = n_samples // 2
    angles = np.pi * rng.random(n_samples)
    upper = np.c_[np.cos(angles[:half]), np.sin(angles[:half])]
    lower = np.c_[1 - np.cos(angles[half:]), 0.5 - np.sin(angles[half:])]
    X = np.r_[upper, lower] + noise * rng.standard_normal((n_samples, 2))
    return X, np.r_[np.zeros(half, int), np.ones(n_samples - half, int)]


def circles(rng, n_samples=400, noise=0.1):
    """A circle of radius 0.5 inside one of radius 1 (labels 1 inner, 0 outer)."""
    y = (np.arange(n_samples) % 2).astype(int)
    angles = 2 * np.pi * rng.random(n_samples)
    radius = np.where(y == 1, 0.5, 1.0)
    X = radius[:, None] * np.c_[np.cos(angles), np.sin(angles)]
    return X + noise * rng.standard_normal((n_samples, 2)), y


def spirals(rng, n_samples=600, noise=0.2, n_classes=3):
    """n_classes interleaved spiral arms (the CS231n toy problem)."""
    y = np.arange(n_samples) % n_classes
    radius = rng.random(n_samples)
    angle = y * 2 * np.pi / n_classes + 4 * radius + noise * rng.standard_normal(n_samples)
    return np.c_[radius * np.sin(angle), radius * np.cos(angle)], y


def blobs(rng, n_samples=300, noise=1.0, n_classes=3, n_features=2):
    """Gaussian blobs around n_classes random centres in [-10, 10]^n_features."""
    centres = rng.uniform(-10, 10, (n_classes, n_features))
    y = np.arange(n_samples) % n_classes
    return centres[y] + noise * rng.standard_normal((n_samples, n_features)), y


def linear(rng, n_samples=200, noise=0.1, n_features=3):
    """Regression y = X·w + b + noise, with w ~ N(0, 1), b ~ N(0, 1)."""
    X = rng.standard_normal((n_samples, n_features))
    w, b = rng.standard_normal(n_features), rng.standard_normal()
    return X, X @ w + b + noise * rng.standard_normal(n_samples)


def sine(rng, n_samples=400, noise=0.1):
    """Regression y = sin(x) + noise on x ~ U(-π, π)."""
    x = rng.uniform(-np.pi, np.pi, n_samples)
    return x[:, None], np.sin(x) + noise * rng.standard_normal(n_samples)


GENERATORS = {f.__name__: f for f in [xor, moons, circles, spirals, blobs, linear, sine]}
BUILTIN = sorted([*GENERATORS, *SHIPPED])


def generate(name: str, rng: np.random.Generator, options: dict) -> Table:
    """Run a built-in generator with its settings (n_samples, noise, …; validated by the config)."""
    X, y = GENERATORS[name](rng, **options)
    names = [f"x{i}" for i in range(X.shape[1])]
    return Table(X, y, names, "y", f"built-in '{name}'")


def shipped_path(name: str) -> Path:
    """The CSV of a shipped dataset, inside the installed package or the source checkout."""
    for folder in (PACKAGE_DATASETS, REPO_DATASETS):
        if (folder / f"{name}.csv").is_file():
            return folder / f"{name}.csv"
    raise DataError(f"the shipped dataset '{name}' is missing from this installation")


def settings(name: str) -> dict:
    """The settings a generator takes (n_samples, noise, …) with their defaults."""
    parameters = inspect.signature(GENERATORS[name]).parameters.values()
    return {p.name: p.default for p in parameters if p.name != "rng"}


def generator_options(data_config) -> dict:
    """The generator settings of a data config (empty for file sources)."""
    if data_config.source not in GENERATORS:
        return {}
    return {key: getattr(data_config, key) for key in settings(data_config.source)}


def load_table(source: str, target, rng: np.random.Generator, options: dict) -> Table:
    """Any data source: a generator name, a shipped dataset name, or a .csv/.npz/.npy path."""
    if source in GENERATORS:
        return generate(source, rng, options)
    if source in SHIPPED:
        return load_csv(shipped_path(source), target)
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npz", ".npy"):
        raise DataError(
            f"data.source '{source}' is neither a built-in dataset nor a .csv/.npz/.npy file",
            f"built-in: {', '.join(BUILTIN)}",
        )
    # a missing file, a folder, a FIFO: the readers say which (safe_read.open_regular)
    return load_csv(path, target) if suffix == ".csv" else load_numpy(path, target)
